#!/usr/bin/env python3
"""Drives the feature browser in headless Chromium (Selenium, Debian's chromium and chromedriver).

  browser-test.py --bundle DIR [--search TEXT --expect SAE/ID] [--serve URL --text TEXT] [--screenshots DIR]

From file://, DIR/browser/index.html: searching TEXT lists feature SAE/ID (by default the first
feature the index labels with TEXT); its page shows the histogram, contexts whose tokens are
coloured by activation, and a value on hover; keyboard navigation moves between features. With
--serve, the served browser's "Test your text" view submits TEXT and shows each token's features,
which link to their pages. Exits 1 with the reason on the first failed check.
"""
import argparse
import json
import os
import re
import sys
import time

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium must not download a browser or driver
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def fail(message):
    print(f"browser test: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def driver(width, height, phone=False):
    options = webdriver.ChromeOptions()
    options.binary_location = next(p for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] if os.path.exists(p))
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={max(width, 800)},{height}"]:
        options.add_argument(flag)
    if phone:
        # A window cannot be narrower than about 500 px; the phone's viewport is emulated instead.
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2, "touch": True}})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(browser, condition, message, timeout=20):
    try:
        return WebDriverWait(browser, timeout).until(lambda b: condition(b))
    except Exception:
        fail(f"{message} (page: {browser.current_url}; text: {browser.find_element(By.TAG_NAME, 'body').text[:400]!r})")


def read_index(bundle):
    text = open(os.path.join(bundle, "browser", "data", "index.js"), encoding="utf-8").read()
    return json.loads(text[text.index("{"):text.rindex("}") + 1])


def pick_feature(index):
    """A firing feature whose label names a token, and a word of that label to search for."""
    for sae, table in sorted(index["saes"].items()):
        for i, label in enumerate(table["label"]):
            match = re.search(r'"([A-Za-z]{3,})"', label)
            if table["class"][i] != "dead" and match:
                return match.group(1), f"{sae}/{i}"
    fail("no feature in the index has a label naming a word token")


def test_static(bundle, search, expect, screenshots):
    index = read_index(bundle)
    if not search:
        search, expect = pick_feature(index)
    url = "file://" + os.path.abspath(os.path.join(bundle, "browser", "index.html"))
    browser = driver(1280, 1000)
    try:
        started = time.time()
        browser.get(url)
        rows = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "table.features tbody tr"), "the feature list renders")
        first_paint = time.time() - started
        total = sum(t["features"] for t in index["saes"].values())
        check(str(total) in browser.find_element(By.ID, "count").text, "the count names every feature")
        print(f"browser test: list of {total} features painted in {first_paint:.2f} s ({len(rows)} rows shown)")
        # Search from the keyboard: "/" focuses the box.
        browser.find_element(By.TAG_NAME, "body").send_keys("/")
        check(browser.switch_to.active_element.get_attribute("id") == "q", "/ focuses the search box")
        browser.switch_to.active_element.send_keys(search)
        wait(browser, lambda b: any(r.get_attribute("data-key") == expect for r in b.find_elements(By.CSS_SELECTOR, "tbody tr")),
             f"searching {search!r} lists {expect}")
        hits = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
        print(f"browser test: searching {search!r} lists {len(hits)} features, {expect} among them")
        if screenshots:
            browser.save_screenshot(os.path.join(screenshots, "search.png"))
        # Open it from the list with the arrow keys and Enter.
        keys = [r.get_attribute("data-key") for r in hits]
        body = browser.find_element(By.TAG_NAME, "body")
        browser.execute_script("document.activeElement.blur()")
        for _ in range(keys.index(expect)):
            body.send_keys(Keys.ARROW_DOWN)
        body.send_keys(Keys.ENTER)
        wait(browser, lambda b: b.current_url.endswith("#" + expect), f"Enter opens {expect}")
        tokens = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".context .tok"), "the feature page shows contexts")
        heading = browser.find_element(By.TAG_NAME, "h1").text
        check(f"feature {expect.split('/')[1]}" in heading, f"the page is {expect}'s: {heading}")
        for panel in ["Activation histogram", "Top activations", "Top tokens", "Co-firing features", "Nearest features", "Logit effect"]:
            check(panel in browser.find_element(By.TAG_NAME, "main").text, f"the page has its {panel} panel")
        check(browser.find_elements(By.CSS_SELECTOR, "svg.hist rect"), "the histogram has bars")
        coloured = [t for t in tokens if "rgba(255, 110, 0" in (t.get_attribute("style") or "")]
        check(coloured, "context tokens are coloured by activation")
        check(browser.find_elements(By.CSS_SELECTOR, ".tok.center"), "the activating token is marked")
        ActionChains(browser).move_to_element(coloured[0]).perform()
        tip = wait(browser, lambda b: b.find_element(By.ID, "tip") if b.find_element(By.ID, "tip").is_displayed() else None,
                   "hovering a token shows its activation")
        check(re.search(r"activation \d+\.\d{3}", tip.text), f"the tip gives the value: {tip.text!r}")
        print(f"browser test: {expect}'s page: {len(tokens)} context tokens, {len(coloured)} coloured; hover: {tip.text!r}")
        if screenshots:
            browser.save_screenshot(os.path.join(screenshots, "feature.png"))
        # Links: a neighbour opens its page; ] moves to the next feature.
        sae, number = expect.split("/")
        link = browser.find_element(By.CSS_SELECTOR, "ul.links a")
        target = link.get_attribute("href").split("#")[1]
        link.click()
        wait(browser, lambda b: b.current_url.endswith("#" + target) and b.find_elements(By.CSS_SELECTOR, ".context"), f"a neighbour link opens {target}")
        browser.find_element(By.TAG_NAME, "body").send_keys("]")
        following = f"{target.split('/')[0]}/{int(target.split('/')[1]) + 1}"
        wait(browser, lambda b: b.current_url.endswith("#" + following), f"] moves to {following}")
        browser.get(url + "#map")
        wait(browser, lambda b: b.find_elements(By.ID, "map"), "the feature map renders")
        if screenshots:
            browser.save_screenshot(os.path.join(screenshots, "map.png"))
    finally:
        browser.quit()
    # Phone width: the list and a page stay readable (no horizontal scrolling).
    phone = driver(390, 844, phone=True)
    try:
        phone.get(url + "#" + expect)
        wait(phone, lambda b: b.find_elements(By.CSS_SELECTOR, ".context .tok"), "the page renders at 390 px")
        width = phone.execute_script("return window.innerWidth")
        check(width == 390, f"the phone viewport is 390 px wide, not {width}")
        # Tapping a token shows its value (no hover on a phone).
        phone.find_elements(By.CSS_SELECTOR, ".tok.center")[0].click()
        wait(phone, lambda b: b.find_element(By.ID, "tip").is_displayed(), "tapping a token shows its activation")
        overflow = phone.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(overflow <= 1, f"no horizontal scrolling at 390 px (overflow {overflow} px)")
        if screenshots:
            phone.save_screenshot(os.path.join(screenshots, "feature-390.png"))
        phone.get(url)
        wait(phone, lambda b: b.find_elements(By.CSS_SELECTOR, "tbody tr"), "the list renders at 390 px")
        overflow = phone.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        check(overflow <= 1, f"the list fits 390 px (overflow {overflow} px)")
        if screenshots:
            phone.save_screenshot(os.path.join(screenshots, "list-390.png"))
    finally:
        phone.quit()


def test_served(url, text, screenshots):
    browser = driver(1280, 1000)
    try:
        browser.get(url.rstrip("/") + "/#test")
        area = wait(browser, lambda b: b.find_element(By.ID, "text") if b.find_elements(By.ID, "text") else None,
                    "the served browser has the Test your text view")
        check(browser.find_element(By.ID, "test-link").is_displayed(), "the served browser links to Test your text")
        area.send_keys(text)
        browser.find_element(By.ID, "go").click()
        rows = wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".token-row"), "submitting shows per-token features")
        status = browser.find_element(By.ID, "status").text
        links = browser.find_elements(By.CSS_SELECTOR, ".token-row a")
        check(links, "the tokens list features that fire")
        print(f"browser test: served: {len(rows)} tokens ({status}), {len(links)} feature links")
        if screenshots:
            browser.save_screenshot(os.path.join(screenshots, "test-your-text.png"))
        target = links[0].get_attribute("href").split("#")[1]
        links[0].click()
        wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".context .tok"), f"a feature link opens {target}'s page")
        # An empty text is refused with the server's message.
        browser.get(url.rstrip("/") + "/#test")
        wait(browser, lambda b: b.find_elements(By.ID, "go"), "the test view reopens")
        browser.find_element(By.ID, "text").clear()
        browser.find_element(By.ID, "go").click()
        wait(browser, lambda b: "empty" in b.find_element(By.ID, "status").text, "an empty text gets the server's error")
    finally:
        browser.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--search")
    parser.add_argument("--expect")
    parser.add_argument("--serve")
    parser.add_argument("--text", default="the cat sat on the mat")
    parser.add_argument("--screenshots")
    args = parser.parse_args()
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    test_static(args.bundle, args.search, args.expect, args.screenshots)
    if args.serve:
        test_served(args.serve, args.text, args.screenshots)
    print("browser test: passed")


if __name__ == "__main__":
    main()
