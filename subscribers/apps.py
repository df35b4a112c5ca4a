from django.apps import AppConfig


class SubscribersConfig(AppConfig):
    name = "subscribers"

    def ready(self) -> None:
        from anymail.signals import tracking

        from subscribers.webhooks import anymail_tracking_received

        # Email providers' tracking webhooks (django-anymail) feed engagement events.
        tracking.connect(anymail_tracking_received, dispatch_uid="subscribers.anymail_tracking")
