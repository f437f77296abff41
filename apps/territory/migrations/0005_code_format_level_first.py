"""area_code_format with the level test before the regular expression in each branch, so a row costs one
regular expression instead of up to five (~3 µs per area when loading millions of them). Same rule."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("territory", "0004_code_versions_unique_and_trigger")]

    operations = [
        migrations.RemoveConstraint(model_name="area", name="area_code_format"),
        migrations.AddConstraint(
            model_name="area",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("level", "street"), ("code__regex", "^\\d{9}$")),
                    models.Q(("level", "community"), ("code__regex", "^\\d{12}$")),
                    models.Q(("level", "grid"), ("code__regex", "^\\d{15}$")),
                    models.Q(("level", "neighbourhood"), ("code__regex", "^\\d{18}$")),
                    models.Q(("level", "compound"), ("code__regex", "^\\d{12}C\\d{3}$")),
                    _connector="OR",
                ),
                name="area_code_format",
                violation_error_message="Code does not follow the scheme for its level.",
            ),
        ),
    ]
