from django.db import models


class WorkerPing(models.Model):
    """A round trip through the broker: requested by web or beat, answered by a worker.

    Support staff read these in the admin to tell whether background work is flowing.
    """

    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    requested_by = models.CharField(max_length=50, default="beat")
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self):
        return f"Ping #{self.pk} ({'answered' if self.answered_at else 'waiting'})"

    @property
    def latency(self):
        if self.answered_at is None:
            return None
        return self.answered_at - self.requested_at
