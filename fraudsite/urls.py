from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView

from api.docs import SwaggerView
from core.health import JsonHealthView

# Language comes from the switcher's cookie (or the browser's Accept-Language), so every URL
# stays the same in English and Chinese.
# For load balancers (no sign-in; JSON; see README "Deploying"): liveness touches nothing but this
# process; readiness checks everything a decision needs. With or without the trailing slash, so
# a probe is never answered with a redirect.
HEALTH_READY_CHECKS = {
    "database": "health_check.checks.Database",
    "cache": "health_check.checks.Cache",
    "task_queue": "detection.serving.health.TaskQueue",
    "model": "detection.serving.health.ChampionModel",
}

urlpatterns = [
    re_path(r"^health/live/?$", JsonHealthView.as_view(checks={}), name="health-live"),
    re_path(r"^health/ready/?$", JsonHealthView.as_view(checks=HEALTH_READY_CHECKS), name="health-ready"),
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    # Resolved per request: the hashed static name exists only after collectstatic.
    path("favicon.ico", lambda request: HttpResponsePermanentRedirect(static("favicon.svg"))),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("", include("transactions.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("fraudsite.api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

# Under /api/ these answer in the API's JSON error shape; elsewhere, the usual pages.
handler400 = "api.errors.json_or_html_400"
handler404 = "api.errors.json_or_html_404"
handler500 = "api.errors.json_or_html_500"
