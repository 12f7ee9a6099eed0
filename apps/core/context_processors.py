from django.conf import settings

from .extensions import Nav


def site(request):
    # `nav` is computed only when a template reads it (the admin's pages never do).
    return {"DEV_TOOLS": settings.DEV_TOOLS, "nav": Nav(request)}
