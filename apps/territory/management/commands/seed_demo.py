from django.core.management.base import BaseCommand, CommandError, no_translations
from tqdm import tqdm

from apps.common.demo import seed_all, settle
from apps.territory import demo
from apps.territory.models import Area


class Command(BaseCommand):
    help = "Generate the demo district in Hefei, Baohe (deterministic). --scale grows it linearly."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="1 = one street, 5 communities, ~150 buildings, ~6,000 households; 6700 ≈ 1M buildings",
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing if any area already exists"
        )

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, seed, scale, if_empty, **options):
        if scale <= 0:
            raise CommandError(f"--scale must be positive, got {scale}")
        if Area.objects.exists():
            if if_empty:
                self.stdout.write("Demo district already loaded; skipping.")
                return
            raise CommandError(
                "The database already holds a territory; seed_demo writes into an empty one only."
            )
        n_streets = -(-max(1, round(demo.STREET_COMMS * scale)) // demo.STREET_COMMS)
        with tqdm(
            total=n_streets, unit="street", disable=n_streets < 5 or options["verbosity"] == 0
        ) as bar:
            stats = seed_all(seed=seed, scale=scale, progress=bar.update)
        settle(scale)  # committed: vacuum the big tables once (bulk scales only)
        self.stdout.write(
            self.style.SUCCESS(
                "Demo district loaded: " + ", ".join(f"{v:,} {k}" for k, v in stats.items())
            )
        )
