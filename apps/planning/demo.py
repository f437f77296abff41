"""Demo data for planning: one draft proposal of neighbourhood grids for the first community, so the
planner's page has something to open. Deterministic (the proposal is)."""

from apps.planning.services import plan_propose
from apps.territory.models import Area


def seed_demo(*, seed: int, scale: float) -> dict:
    community = (
        Area.objects.filter(level="community", valid_to__isnull=True).order_by("code").first()
    )
    if community is None:
        return {"plans": 0}
    plan_propose(community=community, name=f"{community.name} 邻里格自动划分（示例）")
    return {"plans": 1}
