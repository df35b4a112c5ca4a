from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"

    def ready(self) -> None:
        import warnings

        from anymail.exceptions import AnymailInsecureWebhookWarning
        from anymail.signals import tracking

        from subscribers import checks  # noqa: F401  (registers the system checks)
        from subscribers.webhooks import anymail_tracking_received

        # Anymail warns on each call to a webhook without a secret that it is open to anyone; Roster's routes refuse
        # such calls instead (subscribers.webhook_routes) and `check --deploy` warns once (subscribers.checks).
        warnings.filterwarnings("ignore", category=AnymailInsecureWebhookWarning)

        # Email providers' tracking webhooks (django-anymail) feed engagement events.
        tracking.connect(anymail_tracking_received, dispatch_uid="subscribers.anymail_tracking")
