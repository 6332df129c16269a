from django.db import models


class Note(models.Model):
    """A line of text; the rows live in the SQLite file at DATABASE_PATH, so they survive deploys."""

    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.text
