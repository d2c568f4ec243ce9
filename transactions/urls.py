from django.urls import path

from transactions import views

app_name = "transactions"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("cards/add/", views.card_add, name="card_add"),
    path("cards/<int:pk>/", views.card_detail, name="card_detail"),
    path("cards/<int:pk>/status/", views.card_status, name="card_status"),
    path("transactions/", views.transaction_list, name="transaction_list"),
    path("transactions/new/", views.transaction_new, name="transaction_new"),
    path("transactions/<int:pk>/", views.transaction_detail, name="transaction_detail"),
    path("transactions/<int:pk>/report/", views.transaction_report, name="transaction_report"),
    path("reports/", views.report_list, name="report_list"),
    path("reports/<int:pk>/", views.report_detail, name="report_detail"),
]
