"""The dry-run / commit report of an import: what a planner reads before pressing commit."""

from dataclasses import dataclass, field


@dataclass
class RowResult:
    row: int  # 1-based: the n-th feature of the file (for CSV the n-th data line)
    status: str  # "ok" | "repaired" | "rejected"
    reason: str = ""
    name: str = ""
    ext_code: str = ""
    code: str = ""  # the Linli code it gets (areas) or had
    parent_code: str = ""
    action: str = ""  # areas: new | new_version | unchanged; buildings: new | existing
    matched_by: str = ""  # areas matched to a current one: code | ground | name
    households: int | None = None
    households_source: str = ""
    floors: int | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


@dataclass
class ImportReport:
    kind: str  # "areas" | "buildings"
    file: str
    layer: str | None
    driver: str
    crs: str
    datum: str
    level: str | None = None
    rows: list[RowResult] = field(default_factory=list)
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # ext_code -> rows
    committed: bool = False
    refused: bool = False  # --commit was asked for but rows were rejected: nothing written
    written: int = 0
    notes: list[str] = field(default_factory=list)
    # areas: current areas under the imported parents that no row matches ({code, name, parent_code});
    # listed, never retired by the import
    not_in_file: list[dict] = field(default_factory=list)
    geojson: dict | None = None  # features with their status, for the map

    @property
    def read(self) -> int:
        return len(self.rows)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def rejected(self) -> list[RowResult]:
        return [r for r in self.rows if r.status == "rejected"]

    @property
    def repaired(self) -> list[RowResult]:
        return [r for r in self.rows if r.status == "repaired"]

    def summary(self) -> dict:
        usable = [r for r in self.rows if r.status != "rejected"]
        out = {
            "read": self.read,
            "ok": self.count("ok"),
            "repaired": self.count("repaired"),
            "rejected": self.count("rejected"),
            "duplicated_codes": len(self.duplicates),
        }
        if self.kind == "areas":
            out["parents_matched"] = sum(1 for r in usable if r.parent_code)
            for action in ("new", "new_version", "unchanged"):
                out[action] = sum(1 for r in usable if r.action == action)
            out["not_in_file"] = len(self.not_in_file)
        else:
            out["existing"] = sum(1 for r in usable if r.action == "existing")
            for src in ("field", "floors_units", "area_estimate", "unknown"):
                out[f"households_{src}"] = sum(1 for r in usable if r.households_source == src)
            out["households"] = sum(r.households or 0 for r in usable)
        out["committed"] = self.committed
        out["written"] = self.written
        return out

    def as_dict(self, *, with_rows: bool = True) -> dict:
        body = {
            "kind": self.kind,
            "file": self.file,
            "layer": self.layer,
            "driver": self.driver,
            "crs": self.crs,
            "datum": self.datum,
            "level": self.level,
            "summary": self.summary(),
            "duplicates": self.duplicates,
            "notes": self.notes,
        }
        if self.kind == "areas":
            body["not_in_file"] = self.not_in_file
        if with_rows:
            body["rows"] = [r.as_dict() for r in self.rows]
        return body

    def as_text(self, *, limit: int = 200) -> str:
        """The table the command prints."""
        s = self.summary()
        lines = [
            f"{self.file} (layer {self.layer}, {self.driver}, {self.crs}"
            + (f", datum {self.datum}" if self.datum != "wgs84" else "")
            + ")",
            "",
            f"  {'features read':<22}{s['read']:>8}",
            f"  {'valid as read':<22}{s['ok']:>8}",
            f"  {'repaired':<22}{s['repaired']:>8}",
            f"  {'rejected':<22}{s['rejected']:>8}",
        ]
        if self.kind == "areas":
            lines += [
                f"  {'parents matched':<22}{s['parents_matched']:>8}",
                f"  {'codes duplicated':<22}{s['duplicated_codes']:>8}",
                f"  {'new areas':<22}{s['new']:>8}",
                f"  {'new versions':<22}{s['new_version']:>8}",
                f"  {'unchanged':<22}{s['unchanged']:>8}",
                f"  {'not in file':<22}{s['not_in_file']:>8}",
            ]
        else:
            lines += [
                f"  {'codes duplicated':<22}{s['duplicated_codes']:>8}",
                f"  {'already imported':<22}{s['existing']:>8}",
                f"  {'households (total)':<22}{s['households']:>8}",
                f"  {'  from a field':<22}{s['households_field']:>8}",
                f"  {'  floors × units':<22}{s['households_floors_units']:>8}",
                f"  {'  area estimate':<22}{s['households_area_estimate']:>8}",
                f"  {'  unknown':<22}{s['households_unknown']:>8}",
            ]
        for title, rows in (("Repaired", self.repaired), ("Rejected", self.rejected)):
            if rows:
                lines += ["", f"{title}:", f"  {'row':>6}  {'code':<14} {'name':<24} reason"]
                for r in rows[:limit]:
                    lines.append(
                        f"  {r.row:>6}  {r.ext_code[:14]:<14} {r.name[:24]:<24} {r.reason}"
                    )
                if len(rows) > limit:
                    lines.append(f"  ... and {len(rows) - limit} more")
        if self.not_in_file:
            lines += [
                "",
                "Not in file (current areas under the same parents that no row matches; kept, not retired):",
                f"  {'code':<22} {'parent':<18} name",
            ]
            for a in self.not_in_file[:limit]:
                lines.append(f"  {a['code']:<22} {a['parent_code']:<18} {a['name']}")
            if len(self.not_in_file) > limit:
                lines.append(f"  ... and {len(self.not_in_file) - limit} more")
        if self.duplicates:
            lines += ["", "Duplicated codes:"]
            for code, rows in list(self.duplicates.items())[:limit]:
                lines.append(f"  {code}: rows {', '.join(map(str, rows))}")
        for note in self.notes:
            lines += ["", f"Note: {note}"]
        lines += [
            "",
            f"Committed: {self.written} written."
            if self.committed
            else "Not committed: rows were rejected, nothing written."
            if self.refused
            else "Dry run: nothing written (pass --commit to write).",
        ]
        return "\n".join(lines)
