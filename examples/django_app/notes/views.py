"""A page with the release and the row count, a health check, and notes added by POST."""

from django.conf import settings
from django.http import HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .models import Note

RELEASE = (settings.BASE_DIR / "VERSION").read_text(encoding="utf-8").strip()


def index(request):
    return JsonResponse({"app": "django_app", "version": RELEASE, "notes": Note.objects.count()})


def healthz(request):
    return JsonResponse({"status": "ok", "version": RELEASE})


@csrf_exempt  # a plain API for the tests: no session, no form
def notes(request):
    """GET: the notes; POST: add the request body as a note."""
    if request.method == "POST":
        Note.objects.create(text=request.body.decode("utf-8").strip())
    elif request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])
    return JsonResponse({"version": RELEASE, "notes": list(Note.objects.order_by("id").values_list("text", flat=True))})
