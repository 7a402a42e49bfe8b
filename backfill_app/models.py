"""What the app keeps in the database of the project it runs in."""

from django.db import models


class SourceCheckpoint(models.Model):
    """
    How far a backfill from one source to one destination got in one source object: every
    line up to ``committed_line`` (ending at byte ``committed_offset``, for plain files) has
    its statements written. Advanced only after the write, so a crash never skips a line.
    """

    run_key = models.CharField(max_length=64, help_text="hash of source, destination and transformer type")
    object_key = models.CharField(max_length=64, help_text="hash of the object name (names can be long)")
    object_name = models.TextField()
    object_size = models.BigIntegerField()
    object_etag = models.CharField(max_length=255, blank=True, default="")
    committed_offset = models.BigIntegerField(default=0)
    committed_line = models.BigIntegerField(default=0)
    completed = models.BooleanField(default=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run_key", "object_key"], name="backfill_checkpoint_one_per_object")
        ]

    def __str__(self):
        return f"{self.object_name} line {self.committed_line}{' (done)' if self.completed else ''}"
