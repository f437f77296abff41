from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from apps.people.models import PropertyCompany, PropertyService
from apps.people.scope import user_scope
from apps.people.services import staff_assign
from apps.territory.models import Area

User = get_user_model()


def _user(name):
    return User.objects.create_user(name, password="x-password-123")


def test_grid_leader_sees_only_their_grid_and_what_nests_in_it(demo):
    grid, other = Area.objects.filter(level="grid").order_by("code")[:2]
    user = _user("gl")
    staff_assign(name="张三", role="grid_leader", area=grid, user=user)
    scope = user_scope(user)
    assert scope.area_prefixes == (grid.code,)
    nbh = Area.objects.filter(level="neighbourhood", parent=grid).first()
    assert scope.covers_code(nbh.code) and not scope.covers_code(other.code)
    visible = set(Area.objects.filter(scope.q("code")).values_list("level", flat=True))
    assert visible == {"grid", "neighbourhood"}
    assert not scope.covers_code(grid.parent.code)  # not the community above


def test_community_staff_and_nested_grid_collapse_to_the_outer_prefix(demo):
    community = Area.objects.get(level="community")
    grid = Area.objects.filter(level="grid").first()
    user = _user("cs")
    staff_assign(name="李四", role="community_staff", area=community, user=user)
    staff_assign(name="李四", role="grid_worker", area=grid, user=user)
    assert user_scope(user).area_prefixes == (community.code,)


def test_property_company_sees_its_compounds_only(demo):
    company = PropertyCompany.objects.create(name="测试物业")
    compound = Area.objects.filter(level="compound").order_by("code").last()
    PropertyService.objects.filter(compound=compound).delete()
    PropertyService.objects.create(company=company, compound=compound)
    user = _user("pc")
    staff_assign(name="王五", role="property_company", company=company, user=user)
    scope = user_scope(user)
    assert scope.area_prefixes == (compound.code,) and scope.company_ids == (company.id,)
    assert list(Area.objects.filter(scope.q("code")).values_list("id", flat=True)) == [compound.id]


def test_no_role_means_nothing_and_superuser_everything(demo):
    assert user_scope(AnonymousUser()).is_empty
    assert user_scope(_user("nobody")).is_empty
    assert Area.objects.filter(user_scope(_user("nobody2")).q("code")).count() == 0
    admin = User.objects.create_superuser("root2", password="x-password-123")
    assert user_scope(admin).everything
    auditor = _user("aud")
    staff_assign(name="审计员", role="auditor", user=auditor)
    scope = user_scope(auditor)
    assert scope.everything and scope.read_only


def test_compound_head_sees_the_issues_of_their_compound(demo):
    """Issues are scoped by their intake area code (a neighbourhood grid's), which no compound code
    prefixes: the compound is matched by the issue's compound instead, in the ORM and the raw SQL rule."""
    from django.db import connection

    from apps.issues.models import Issue

    issue = Issue.objects.filter(compound__isnull=False).order_by("id").first()
    compound = issue.compound
    user = _user("ch")
    staff_assign(name="赵六", role="compound_head", area=compound, user=user)
    scope = user_scope(user)
    expected = set(Issue.objects.filter(compound=compound).values_list("id", flat=True))
    assert issue.id in expected
    assert set(Issue.objects.filter(scope.issues_q()).values_list("id", flat=True)) == expected
    where, params = scope.issues_sql("i")
    with connection.cursor() as cur:
        cur.execute(f"SELECT i.id FROM issues_issue i WHERE {where}", params)  # noqa: S608
        assert {r[0] for r in cur.fetchall()} == expected
