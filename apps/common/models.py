from django.db import models


class LoginFailure(models.Model):
    """A failed login, kept to lock out guessing (see apps.common.auth). In the database, not a per-process
    cache, so every server worker sees the same count."""

    username = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # "failures for this username / this address in the last N minutes"
            models.Index(fields=["username", "at"], name="loginfail_user_at"),
            models.Index(fields=["ip", "at"], name="loginfail_ip_at"),
        ]

    def __str__(self):
        return f"{self.username} from {self.ip} at {self.at:%Y-%m-%d %H:%M}"
