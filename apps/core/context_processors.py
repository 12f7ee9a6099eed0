from django.conf import settings


def site(request):
    return {"DEV_TOOLS": settings.DEV_TOOLS}
