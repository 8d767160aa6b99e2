"""A drop zone for one staff upload (the catalog's files, the customer import): the dashed box
a file is dropped on or chosen from by keyboard, and the name of the file selected."""

from __future__ import annotations

import reflex as rx


def dropzone(
    upload_id: str,
    prompt: str,
    hint: str,
    *,
    max_size: int,
    testid: str,
    selected_testid: str,
    aria_label: str,
    accept: dict[str, list[str]] | None = None,
) -> rx.Component:
    options = {"accept": accept} if accept else {}
    return rx.fragment(
        rx.upload(
            rx.vstack(
                rx.icon("upload", size=22),
                rx.text(prompt, size="2"),
                rx.text(hint, size="1", color_scheme="gray"),
                align="center",
                spacing="1",
            ),
            id=upload_id,
            max_files=1,
            multiple=False,
            max_size=max_size,
            border="1px dashed var(--gray-a8)",
            border_radius="8px",
            padding="1.25rem",
            width="100%",
            cursor="pointer",
            tab_index=0,
            aria_label=aria_label,
            data_testid=testid,
            **options,
        ),
        rx.foreach(
            rx.selected_files(upload_id),
            lambda name: rx.text("Selected: ", name, size="2", data_testid=selected_testid),
        ),
    )
