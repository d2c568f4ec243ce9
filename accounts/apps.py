from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from accounts.roles import sync_role_permissions

        # Permissions of other apps exist only after their migrations ran, so the roles get
        # their permissions after every migrate, not in the migration that creates the groups.
        post_migrate.connect(sync_role_permissions, dispatch_uid="accounts.sync_role_permissions")
