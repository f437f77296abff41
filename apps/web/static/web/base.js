/* Site-wide behaviour, no inline handlers (so a strict Content-Security-Policy holds), and the helpers
   the page scripts share (this file loads before them): window.linli.esc, .plural, .flatName, .byFlat. */
window.linli = {
  // text put into HTML
  esc: (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])),
  // forms: {one, other} from apps.common.labels.plural_forms
  plural: (forms, n) => (n === 1 ? forms.one : forms.other),
  // the register of residents (console and phone): a flat's name, and [{household, name, residents}]
  // for the flats that have residents, in the households' order (/api/people/households)
  flatName: (h) => (h.unit ? h.unit + "-" : "") + h.room,
  byFlat: (residents, households) => {
    const by = {};
    residents.forEach((r) => { (by[r.household] = by[r.household] || []).push(r); });
    return households.filter((h) => by[h.id]).map((h) => ({ household: h, name: window.linli.flatName(h), residents: by[h.id] }));
  },
};
document.querySelectorAll("form.lang select").forEach((s) => s.addEventListener("change", () => s.form.submit()));
document.querySelectorAll("[data-print]").forEach((a) => a.addEventListener("click", (e) => { e.preventDefault(); window.print(); }));
document.querySelectorAll("select[data-autosubmit]").forEach((s) => s.addEventListener("change", () => s.form.submit()));
