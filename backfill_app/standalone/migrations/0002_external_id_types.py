"""The external id types the platform's migrations create; ERB needs 'xapi' and 'caliper'."""

from django.db import migrations

TYPES = {
    "mb_coaching": "MicroBachelors Coaching",
    "lti": "LTI Xblock launches",
    "xapi": "xAPI",
    "caliper": "Caliper",
}


def create_types(apps, schema_editor):
    # In the database being migrated (the state database), never where a router sends the model
    # (a replica of the LMS's: it is only read, and its types are the platform's).
    ExternalIdType = apps.get_model("backfill_standalone", "ExternalIdType")
    for name, description in TYPES.items():
        ExternalIdType.objects.using(schema_editor.connection.alias).get_or_create(
            name=name, defaults={"description": description}
        )


class Migration(migrations.Migration):
    dependencies = [("backfill_standalone", "0001_platform_tables")]
    operations = [migrations.RunPython(create_types, migrations.RunPython.noop)]
