"""manage.py propose_grids --community CODE [--target 30 --min 20 --max 40]: a draft plan of
neighbourhood grids for one community, with its quality report. Nothing is published."""

from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.common.errors import DomainError
from apps.planning import selectors, services


class Command(BaseCommand):
    help = (
        "Propose neighbourhood grids of about --target households for a community (a draft plan)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--community", required=True, help="community code (12 digits)")
        parser.add_argument("--target", type=int, default=30)
        parser.add_argument("--min", type=int, default=20, dest="min_hh")
        parser.add_argument("--max", type=int, default=40, dest="max_hh")

    @no_translations  # the command line speaks English, errors included
    def handle(self, *, community, target, min_hh, max_hh, **options):
        try:
            area = selectors.community_get(code=community)
            plan = services.plan_propose(
                community=area, target=target, min_hh=min_hh, max_hh=max_hh
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        r = plan.report
        self.stdout.write(
            f"Plan {plan.id} (draft) for {area.name} {area.code}: {r['groups']} neighbourhood grids, "
            f"{r['households']} households; per grid min {r['min']} / mean {r['mean']} / max "
            f"{r['max']}; within [{min_hh}, {max_hh}]: {r['within_range']:.1%}; within [25, 35]: "
            f"{r['within_25_35']:.1%} (at most {r.get('within_25_35_bound', 1):.1%} reachable without "
            f"splitting buildings of at most {max_hh}); contiguous: {r['contiguous']:.1%}; compactness "
            f"(Polsby-Popper) {r['compactness']}; {r['runtime_s']} s"
        )
        for item in r["out_of_range"]:
            self.stdout.write(f"  out of range: {item['households']} households: {item['reason']}")
        for note in r["notes"]:
            self.stdout.write(f"  note: {note}")
