"""The engagement score of one engagement record: how much a subscriber did with one marketing email, 0 to 10.

    score = min(10, 0.5 × opens + 1 × unique links clicked + 0.25 × page views + 2 × purchases)
    score = 0 when the subscriber marked the email as spam (delivery_status COMPLAINED)

Opens count every open (a reader coming back counts again); clicks count distinct links, so that one link clicked
ten times weighs as one; page views and purchases count every one. The result is rounded to two decimals. The weights
reproduce the seed's example: 3 opens, 2 links, 12 page views and 1 purchase score 1.5 + 2 + 3 + 2 = 8.5.
Sends, deliveries, bounces, time on site, amounts and unsubscribes do not move the score.
"""

from subscribers.models import Engagement

MAX_SCORE = 10.0
OPEN_WEIGHT = 0.5
UNIQUE_CLICK_WEIGHT = 1.0
PAGE_VIEW_WEIGHT = 0.25
PURCHASE_WEIGHT = 2.0


def engagement_score(engagement: Engagement) -> float:
    if engagement.delivery_status == Engagement.DeliveryStatus.COMPLAINED:
        return 0.0
    raw = (
        OPEN_WEIGHT * engagement.open_count
        + UNIQUE_CLICK_WEIGHT * engagement.unique_click_count
        + PAGE_VIEW_WEIGHT * engagement.page_view_count
        + PURCHASE_WEIGHT * engagement.purchase_count
    )
    return round(min(MAX_SCORE, raw), 2)
