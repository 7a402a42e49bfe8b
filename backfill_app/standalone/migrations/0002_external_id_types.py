"""The external id types the platform's migrations create; ERB needs 'xapi' and 'caliper'."""

from django.db import migrations

TYPES = {
    "mb_coaching": "MicroBachelors Coaching",
    "lti": "LTI Xblock launches",
    "xapi": "xAPI",
    "caliper": "Caliper",
}


def create_types(apps, schema_editor):
    ExternalIdType = apps.get_model("backfill_standalone", "ExternalIdType")
    for name, description in TYPES.items():
        ExternalIdType.objects.get_or_create(name=name, defaults={"description": description})


class Migration(migrations.Migration):
    dependencies = [("backfill_standalone", "0001_platform_tables")]
    operations = [migrations.RunPython(create_types, migrations.RunPython.noop)]
