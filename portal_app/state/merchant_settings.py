"""Settings → Customer Portal for merchant staff: every feature toggle and option, presets with a
diff before they apply, validation with clear errors, atomic audited saves."""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypedDict

import reflex as rx

from portal_app.services import brand_logo, features, merchant_settings_view, settings_history
from portal_app.services.errors import SettingsError
from portal_app.state import confirming
from portal_app.state.confirming import Confirming
from portal_app.state.guard import PrivateState, Refreshing, current, guarded, read, write
from portal_app.state.upload_ticket import UploadTicketMixin

GROUP_TITLES = {
    "subscriptions": "Subscriptions",
    "plan_change": "Plan changes",
    "pause": "Pausing",
    "reactivate": "Reactivation",
    "cancel": "Cancellation flow",
    "invoices": "Invoices",
    "payment_methods": "Payment methods",
    "digital": "Digital products",
    "profile": "Profile",
    "notifications": "Notification preferences",
    "security": "Security",
    "api": "Merchant API",
    "branding": "Branding",
    "billing": "Billing and retries",
    "checkout": "Checkout",
    "orders": "Orders",
}


class ReasonRow(TypedDict):
    key: str  # what is stored and routed on; never shown to customers
    label: str  # what the customer reads


class SettingRow(TypedDict):
    key: str
    group: str
    label: str
    kind: str  # features.Option.kind
    value: str  # as the form shows it
    checked: bool  # a toggle's state (False for other kinds)
    choices: list[str]
    locked: bool  # always on: shown, never posted


class PresetChoice(TypedDict):
    key: str
    label: str


class PresetChange(TypedDict):
    label: str
    before: str
    after: str


class VersionRow(TypedDict):
    number: int
    when: str
    who: str
    what: str
    current: bool  # what is saved now (nothing to restore)
    lines: list[PresetChange]


def form_rows(settings: features.FeatureSet) -> list[SettingRow]:
    rows: list[SettingRow] = []
    for key, option in features.FEATURES.items():
        rows.append(
            {
                "key": key,
                "group": GROUP_TITLES.get(key.split(".")[0], key.split(".")[0]),
                "label": option.label,
                "kind": option.kind,
                "value": settings_history.display(key, settings[key]),
                "checked": bool(settings[key]) if option.kind == "bool" else False,
                "choices": list(option.choices),
                "locked": option.always_on,
            }
        )
    return rows


def parse_form(form_data: dict[str, Any]) -> dict[str, Any]:
    """Turn the posted form into typed values. Unchecked boxes are absent from a form post, so
    every toggle is read as present/absent; text for lists is comma-separated."""
    changes: dict[str, Any] = {}
    problems = []
    for key, option in features.FEATURES.items():
        if option.always_on:
            continue
        if option.kind == "bool":
            changes[key] = key in form_data and form_data[key] not in ("", "off", False)
            continue
        if key not in form_data:
            continue
        raw = str(form_data[key]).strip()
        if option.kind == "int":
            try:
                changes[key] = int(raw)
            except ValueError:
                problems.append(f"{option.label}: must be a whole number.")
        elif option.kind == "list":
            items = [item.strip() for item in raw.split(",") if item.strip()]
            if option.default and isinstance(option.default[0], int):
                try:
                    changes[key] = [int(item) for item in items]
                except ValueError:
                    problems.append(f"{option.label}: must be whole numbers.")
            else:
                changes[key] = items
        elif option.kind in ("fields", "labels"):
            try:
                changes[key] = json.loads(raw or ("[]" if option.kind == "fields" else "{}"))
            except json.JSONDecodeError:
                problems.append(f"{option.label}: could not be read; reload the page.")
        else:
            changes[key] = raw
    if problems:
        raise SettingsError(" ".join(problems))
    return changes


IMPORT_UPLOAD_ID = "settings-file"
LOGO_UPLOAD_ID = "brand-logo"


def _diff_rows(diff: dict[str, tuple[Any, Any]]) -> list[PresetChange]:
    """What a preset or a settings file would change, as the page's table shows it."""
    return [
        {
            "label": features.FEATURES[key].label,
            "before": settings_history.display(key, before),
            "after": settings_history.display(key, after),
        }
        for key, (before, after) in diff.items()
    ]


class MerchantSettingsState(Confirming, UploadTicketMixin, Refreshing, PrivateState):
    rows: list[SettingRow] = []
    presets: list[PresetChoice] = []
    chosen_preset: str = ""
    preset_diff: list[PresetChange] = []
    error: str = ""
    saved_message: str = ""
    loaded: bool = False
    form_version: int = 0  # remounts the form so it shows freshly loaded values
    history: list[VersionRow] = []
    # The list settings as rows the page adds to and removes from before Save posts them.
    list_items: dict[str, list[str]] = {}
    list_errors: dict[str, str] = {}
    # The cancellation survey's reasons in their order, with their wording (saved with the form).
    reason_rows: list[ReasonRow] = []
    reason_error: str = ""
    reason_version: int = 0  # remounts the reasons' boxes when a refused edit is put back
    # A settings file being imported: checked, its changes shown, applied only on "Apply".
    import_name: str = ""  # "" while no file is checked
    import_diff: list[PresetChange] = []
    import_error: str = ""
    _import_data: str = ""
    logo_src: str = ""  # the uploaded logo's URL, "" without one
    logo_error: str = ""

    def _refresh(self) -> None:
        settings = read(merchant_settings_view.settings)
        self.rows = form_rows(settings)
        self.list_items = {
            key: [str(item) for item in settings[key]]
            for key, option in features.FEATURES.items()
            if option.kind == "list"
        }
        self.list_errors = {key: "" for key in self.list_items}
        self.reason_rows = [{"key": k, "label": v} for k, v in features.reasons(settings)]
        self.reason_error = ""
        self.logo_src = brand_logo.url(current().merchant_id, settings["branding.logo"])
        self.history = read(merchant_settings_view.history)
        self.presets = [{"key": k, "label": v} for k, v in features.PRESET_LABELS.items()]
        self.form_version += 1
        self.loaded = True

    @rx.event
    @guarded("staff", staff_role="viewer")
    def load(self):
        self._new_ticket()
        self._clear_import()
        self._refresh()
        self.error, self.saved_message, self.chosen_preset, self.preset_diff = "", "", "", []

    @rx.event
    @guarded("staff", staff_role="admin", error="error")
    def save(self, form_data: dict):
        self.saved_message = ""
        changed = write(merchant_settings_view.save_changes, changes=parse_form(form_data))
        self._refresh()
        self.saved_message = (
            f"Saved {changed} change{'s' if changed != 1 else ''}."
            if changed
            else "Nothing changed."
        )
        return rx.toast.success(self.saved_message)

    @rx.event
    @guarded("staff", staff_role="admin")
    def preview_preset(self, preset: str):
        if preset not in features.PRESETS:
            self.error = "Unknown preset."
            return
        diff = read(merchant_settings_view.preset_changes, preset=preset)
        self.chosen_preset = preset
        self.preset_diff = _diff_rows(diff)

    @rx.event
    @guarded("staff", staff_role="admin")
    def apply_preset(self):
        if self.chosen_preset not in features.PRESETS:
            return
        write(features.apply_preset, preset=self.chosen_preset)
        label = features.PRESET_LABELS[self.chosen_preset]
        self.chosen_preset, self.preset_diff = "", []
        return self._changed(f"{label} preset applied.")

    @rx.event
    @guarded("staff", staff_role="viewer")
    def close_preset(self):
        self.chosen_preset, self.preset_diff = "", []

    @rx.event
    @guarded("staff", staff_role="admin")
    def ask_restore(self, number: int):
        """Restoring asks first, naming what it brings back."""
        number = int(number)
        self._ask(
            "restore",
            number,
            f"Restore version {number}?",
            "The settings become what they were right after it was saved. The restore is saved "
            "as a new version, so you can undo it the same way.",
        )

    keep_it = confirming.backs_out("staff", staff_role="viewer")
    confirm_visibility = confirming.escape_backs_out("staff", staff_role="viewer")

    @rx.event
    @guarded("staff", staff_role="admin")
    def restore_version(self):
        """Bring the asked-about version back (itself a new version, undone the same way)."""
        kind, number = self.confirm_kind, self._confirm_id
        self._close_confirm()
        if kind != "restore" or not number:
            return None
        changed = write(settings_history.restore, number=number)
        return self._changed(
            f"Version {number} restored: {changed} setting{'s' if changed != 1 else ''} changed."
        )

    @rx.event
    @guarded("staff", staff_role="admin")
    def add_item(self, key: str, form_data: dict):
        """One entry added to a list setting on the page (saved with the form); what it can be
        is said at once, and checked again on save."""
        option = features.FEATURES.get(key)
        if option is None or option.kind != "list":
            raise ValueError("not a list setting")
        text = str(form_data.get("item", "")).strip()
        items = list(self.list_items.get(key, []))
        problem = ""
        if not text:
            problem = "Type an entry first."
        elif text in items:
            problem = f"{text} is in the list already."
        elif option.default and isinstance(option.default[0], int):
            if not text.isdigit() or not 1 <= int(text) <= 60:
                problem = "Enter a whole number of days from 1 to 60."
            else:
                items = sorted({*items, text}, key=int)
        elif len(text) > 64 or "," in text:
            problem = "Entries are at most 64 characters, without commas."
        else:
            items.append(text)
        self.list_errors = {**self.list_errors, key: problem}
        if not problem:
            self.list_items = {**self.list_items, key: items}

    @rx.event
    @guarded("staff", staff_role="admin")
    def remove_item(self, key: str, index: int):
        items = list(self.list_items.get(key, []))
        if 0 <= int(index) < len(items):
            del items[int(index)]
            self.list_items = {**self.list_items, key: items}
            self.list_errors = {**self.list_errors, key: ""}

    # --- the cancellation survey's reasons ------------------------------------------------------

    @rx.var
    def reason_keys(self) -> str:
        """The reasons' keys as the form posts them (`cancel.reasons`)."""
        return ", ".join(row["key"] for row in self.reason_rows)

    @rx.var
    def reason_wording(self) -> str:
        """The reasons' wording as the form posts it (`cancel.reason_labels`): only where it
        differs from the built-in words, so a built-in reason follows them otherwise."""
        return json.dumps(
            {
                row["key"]: row["label"]
                for row in self.reason_rows
                if row["label"] != features.DEFAULT_REASON_LABELS.get(row["key"])
            }
        )

    def _reason_index(self, index: Any) -> int:
        index = int(index)
        if not 0 <= index < len(self.reason_rows):
            raise ValueError("no such reason")
        return index

    @rx.event
    @guarded("staff", staff_role="admin")
    def add_reason(self, form_data: dict):
        """A reason the merchant names; its key is made from the words and never changes."""
        label = " ".join(str(form_data.get("label", "")).split())
        taken = [row["key"] for row in self.reason_rows]
        if not label:
            self.reason_error = "Type the reason as customers should read it."
        elif len(label) > features.REASON_LABEL_MAX:
            self.reason_error = f"Keep a reason to {features.REASON_LABEL_MAX} characters."
        elif label.casefold() in (row["label"].casefold() for row in self.reason_rows):
            self.reason_error = f"“{label}” is in the list already."
        else:
            key = features.new_reason_key(label, taken)
            self.reason_rows = [*self.reason_rows, {"key": key, "label": label}]
            self.reason_error = ""

    @rx.event
    @guarded("staff", staff_role="admin")
    def reword_reason(self, index: int, label: str):
        index = self._reason_index(index)
        text = " ".join(str(label).split())
        if not text or len(text) > features.REASON_LABEL_MAX:
            self.reason_error = (
                f"A reason needs 1 to {features.REASON_LABEL_MAX} characters; "
                f"“{self.reason_rows[index]['label']}” is kept."
            )
            self.reason_version += 1  # the box shows the kept words again
            return
        rows = list(self.reason_rows)
        rows[index] = {**rows[index], "label": text}
        self.reason_rows, self.reason_error = rows, ""

    @rx.event
    @guarded("staff", staff_role="admin")
    def move_reason(self, index: int, step: int):
        """Up (-1) or down (+1): the order customers see the reasons in."""
        index = self._reason_index(index)
        to = index + (1 if int(step) > 0 else -1)
        if 0 <= to < len(self.reason_rows):
            rows = list(self.reason_rows)
            rows[index], rows[to] = rows[to], rows[index]
            self.reason_rows, self.reason_error = rows, ""

    @rx.event
    @guarded("staff", staff_role="admin")
    def remove_reason(self, index: int):
        index = self._reason_index(index)
        if len(self.reason_rows) == 1:
            self.reason_error = "The survey needs at least one reason."
            return
        self.reason_rows = [row for i, row in enumerate(self.reason_rows) if i != index]
        self.reason_error = ""

    @rx.event
    @guarded("staff", staff_role="admin")
    def builtin_reasons(self):
        """Back to the built-in reasons and words (saved with the form, like any edit)."""
        self.reason_rows = [
            {"key": key, "label": features.DEFAULT_REASON_LABELS[key]}
            for key in features.DEFAULT_REASONS
        ]
        self.reason_error = ""

    # --- the logo ------------------------------------------------------------------------------

    @rx.event
    @guarded("staff", staff_role="admin", error="logo_error")
    async def upload_logo(self, files: list[rx.UploadFile], ticket: str = ""):
        """A PNG, JPEG or SVG made safe and saved at once (a version: History undoes it)."""
        self._use_ticket(ticket, SettingsError)
        self.logo_error = ""
        if not isinstance(files, list) or len(files) != 1 or not hasattr(files[0], "file"):
            raise SettingsError("Choose one image file.")
        data = files[0].file.read(brand_logo.UPLOAD_MAX_BYTES + 1)
        if not data:
            raise SettingsError("The file is empty.")
        await asyncio.to_thread(write, merchant_settings_view.save_logo, data=data)
        return [rx.clear_selected_files(LOGO_UPLOAD_ID), self._changed("Logo saved.")]

    @rx.event
    @guarded("staff", staff_role="admin", error="logo_error")
    def remove_logo(self):
        write(merchant_settings_view.save_logo, data=b"")
        self.logo_error = ""
        return self._changed("Logo removed. History brings it back.")

    # --- a settings file -----------------------------------------------------------------------

    def _clear_import(self) -> None:
        self.import_name, self.import_diff, self.import_error, self._import_data = "", [], "", ""

    @rx.event
    @guarded("staff", staff_role="viewer")
    def export_settings(self):
        """Every setting as a file, to import on another install (staging → production)."""
        data = read(settings_history.export_file)
        return rx.download(data=data, filename="portal-settings.json")

    @rx.event
    @guarded("staff", staff_role="admin", error="import_error")
    async def upload_settings(self, files: list[rx.UploadFile], ticket: str = ""):
        """Check a settings file and show what it would change (nothing is applied yet)."""
        self._use_ticket(ticket, SettingsError)
        self._clear_import()
        if not isinstance(files, list) or len(files) != 1 or not hasattr(files[0], "file"):
            raise SettingsError("Choose one settings file.")
        raw = files[0].file.read(settings_history.FILE_MAX_BYTES + 1)
        diff = await asyncio.to_thread(read, settings_history.import_changes, data=raw)
        self.import_diff = _diff_rows(diff)
        self._import_data = raw.decode()
        self.import_name = str(files[0].filename or "settings file")[:120]
        return rx.clear_selected_files(IMPORT_UPLOAD_ID)

    @rx.event
    @guarded("staff", staff_role="admin", error="import_error")
    def apply_import(self):
        if not self._import_data:
            raise SettingsError("Check a settings file first.")
        data = self._import_data
        self._clear_import()
        changed = write(settings_history.apply_import, data=data)
        return self._changed(
            f"Settings file imported: {changed} setting{'s' if changed != 1 else ''} changed."
        )

    @rx.event
    @guarded("staff", staff_role="viewer")
    def cancel_import(self):
        self._clear_import()
