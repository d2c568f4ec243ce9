"""Wiring only: every endpoint of /api/v1/ in one list. The views live in each app's api.py, and
accounts' in api/accounts.py (accounts imports nothing of the API)."""

from django.urls import path

from api import accounts as accounts_api
from api.webhooks import api as webhooks_api
from detection import api as detection_api
from transactions import api as transactions_api

app_name = "api"
urlpatterns = [
    path("me/", accounts_api.MeView.as_view(), name="me"),
    path("keys/", accounts_api.KeyListView.as_view(), name="keys"),
    path("keys/<str:prefix>/", accounts_api.KeyDetailView.as_view(), name="key-detail"),
    path("transactions/", transactions_api.TransactionListCreateView.as_view(), name="transactions"),
    path(
        "transactions/<str:id>/", transactions_api.TransactionDetailView.as_view(), name="transaction-detail"
    ),
    path(
        "transactions/<str:id>/reports/",
        transactions_api.TransactionReportsView.as_view(),
        name="transaction-reports",
    ),
    path("reports/", transactions_api.ReportListView.as_view(), name="reports"),
    path("reports/<int:pk>/", transactions_api.ReportDetailView.as_view(), name="report-detail"),
    path("decisions/score", transactions_api.ScoreView.as_view(), name="decisions-score"),
    path("batches/", transactions_api.BatchCreateView.as_view(), name="batches"),
    path("batches/<uuid:id>/", transactions_api.BatchDetailView.as_view(), name="batch-detail"),
    path("batches/<uuid:id>/result/", transactions_api.BatchResultView.as_view(), name="batch-result"),
    path("backtests/", detection_api.BacktestListView.as_view(), name="backtests"),
    path("backtests/<int:pk>/", detection_api.BacktestRunView.as_view(), name="backtest-run"),
    path("trials/", detection_api.TrialListView.as_view(), name="trials"),
    path("trials/report", detection_api.TrialReportView.as_view(), name="trial-report"),
    path("models/", detection_api.ModelListView.as_view(), name="models"),
    path("models/train", detection_api.TrainView.as_view(), name="models-train"),
    path("models/jobs/<uuid:id>/", detection_api.TrainJobView.as_view(), name="train-job"),
    path("models/retrain", detection_api.RetrainView.as_view(), name="models-retrain"),
    path("models/retrain/", detection_api.RetrainRunListView.as_view(), name="retrain-runs"),
    path("models/retrain/<int:pk>/", detection_api.RetrainRunView.as_view(), name="retrain-run"),
    path("models/<str:version>/", detection_api.ModelDetailView.as_view(), name="model-detail"),
    path("models/<str:version>/promote", detection_api.PromoteView.as_view(), name="model-promote"),
    path("webhooks/", webhooks_api.SubscriptionListView.as_view(), name="webhooks"),
    path("webhooks/<uuid:id>/", webhooks_api.SubscriptionDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<uuid:id>/test/", webhooks_api.SubscriptionPingView.as_view(), name="webhook-test"),
    path(
        "webhooks/<uuid:id>/rotate-secret/",
        webhooks_api.SubscriptionRotateSecretView.as_view(),
        name="webhook-rotate-secret",
    ),
    path(
        "webhooks/<uuid:id>/deliveries/", webhooks_api.DeliveryListView.as_view(), name="webhook-deliveries"
    ),
]
