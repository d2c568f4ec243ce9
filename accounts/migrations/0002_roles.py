from django.db import migrations

ROLE_NAMES = ["customer", "analyst", "model_manager", "integrator"]


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_NAMES:
        Group.objects.get_or_create(name=name)


def delete_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_NAMES).delete()


class Migration(migrations.Migration):
    """The role groups; their permissions are synced after each migrate (see AccountsConfig)."""

    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(create_role_groups, delete_role_groups)]
