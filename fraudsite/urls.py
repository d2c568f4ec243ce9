from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

# Language comes from the switcher's cookie (or the browser's Accept-Language), so every URL
# stays the same in English and Chinese.
urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("", include("transactions.urls")),
    path("admin/", admin.site.urls),
]
