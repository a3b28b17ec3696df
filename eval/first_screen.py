"""What a phone shows first after asking each of the page's examples, in real headless Chromium:
whether rank 1's highlighted sentence is wholly on the first screen (above the sticky ask form),
how tall that form is, and how tall card 1's row of actions is (one row is about 32 px).

Run against a server (`make serve`, or an older commit's server to compare):

    python eval/first_screen.py http://127.0.0.1:8000 [--shots DIR]

It reads the answer card's sentence (`section.best mark`) where the page has one, else card 1's
(`li.card mark`), so it measures pages from before the answer card too. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

VIEWPORTS = [(360, 640), (390, 844)]
LANGUAGES = ["en", "ru", "kk"]
MEASURE = """() => {
    const exchange = document.querySelector('#thread .exchange:last-child');
    const mark = exchange.querySelector('section.best mark') || exchange.querySelector('li.card mark');
    const form = document.getElementById('ask-form').getBoundingClientRect();
    const sentence = mark.getBoundingClientRect();
    const actions = exchange.querySelector('li.card .actions').getBoundingClientRect();
    return {top: sentence.top, bottom: sentence.bottom, form_top: form.top, form_height: form.height,
            actions: actions.height, screen: innerHeight};
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--shots", type=Path, help="save a screenshot of each language's first example here")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    print("| screen | language | rank 1's sentence wholly on the first screen | ask form height (px) | card 1's actions height (px) |")
    print("|---|---|---|---|---|")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--headless", "--no-sandbox"])
        for width, height in VIEWPORTS:
            for lang in LANGUAGES:
                context = browser.new_context(base_url=args.address, viewport={"width": width, "height": height},
                                              is_mobile=True)
                page = context.new_page()
                page.goto(f"/?lang={lang}")
                shown, forms, actions = [], [], []
                for number in range(page.locator("a.example").count()):
                    page.goto(f"/?lang={lang}")
                    page.locator("a.example").nth(number).click()
                    page.locator("#thread li.card").first.wait_for()
                    page.wait_for_timeout(300)  # the scroll to the new exchange
                    m = page.evaluate(MEASURE)
                    shown.append(m["top"] >= 0 and m["bottom"] <= min(m["form_top"], m["screen"]))
                    forms.append(round(m["form_height"]))
                    actions.append(round(m["actions"]))
                    if args.shots and number == 0:
                        page.screenshot(path=str(args.shots / f"{lang}-{width}x{height}.png"))
                context.close()
                print(f"| {width}x{height} | {lang} | {sum(shown)} of {len(shown)} | {max(forms)} | {max(actions)} |")
        browser.close()


if __name__ == "__main__":
    main()
