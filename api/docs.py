from drf_spectacular.views import SpectacularSwaggerSplitView


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI that runs under our content security policy: assets from drf-spectacular-
    sidecar on our origin, the init code as a separate script, the one style block with a nonce."""

    template_name = "api/swagger_ui.html"
