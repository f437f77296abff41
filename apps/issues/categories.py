"""The category fixture (fixtures/categories.json): the four categories of the seeds with subcategories.

`load_categories` takes the model class so the data migration can pass its historical model; it updates
existing codes in place and never deletes, so running it again after edits in admin is safe."""

import json
from pathlib import Path

# The project's top-level fixtures/ folder (beside manage.py).
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "categories.json"
INHERITED = ("responsible_type", "department_kind", "sla_hours", "duplicate_radius_m")


def read_fixture(path: Path = FIXTURE) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_categories(Category, path: Path = FIXTURE, *, overwrite: bool = False) -> int:
    """Create the fixture's categories; with overwrite, also reset existing ones to the fixture."""
    count = 0
    for i, top in enumerate(read_fixture(path)):
        children = top.pop("children", [])
        top.setdefault("sort", i + 1)
        parent = _upsert(Category, top, None, overwrite)
        count += 1
        for j, child in enumerate(children):
            values = {key: top.get(key, "") for key in INHERITED}
            values.update(child)
            values.setdefault("sort", j + 1)
            _upsert(Category, values, parent, overwrite)
            count += 1
    return count


def _upsert(Category, values: dict, parent, overwrite: bool):
    values = dict(values)
    code = values.pop("code")
    values.setdefault("department_kind", "")
    values["parent"] = parent
    obj = Category.objects.filter(code=code).first()
    if obj is None:
        return Category.objects.create(code=code, **values)
    if overwrite:
        for key, value in values.items():
            setattr(obj, key, value)
        obj.save()
    return obj
