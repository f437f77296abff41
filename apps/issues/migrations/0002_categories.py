"""Load the four seed categories and their subcategories from fixtures/categories.json."""

from django.db import migrations


def forward(apps, schema_editor):
    from apps.issues.categories import load_categories

    load_categories(apps.get_model("issues", "Category"))


class Migration(migrations.Migration):
    dependencies = [("issues", "0001_initial")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
