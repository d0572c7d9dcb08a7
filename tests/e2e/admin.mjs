// The marketer's admin in a real browser: Playwright (core) driving Debian's Chromium.
// Usage: node admin.mjs build|dashboard|demo|two-factor   (config from env: BASE_URL, USERNAME, PASSWORD, ...)
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";

const base = process.env.BASE_URL;
const artifacts = process.env.ARTIFACTS;
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const result = {};

async function login() {
  await page.goto(`${base}/admin/login/`);
  await page.fill("#id_username", process.env.USERNAME);
  await page.fill("#id_password", process.env.PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("input[type=submit]")]);
}

// The code an authenticator app shows for a base32 key (RFC 6238: SHA-1, 30 s, 6 digits).
function totp(secret, secondsAhead = 0) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bits = [...secret.replace(/=+$/, "")].map((c) => alphabet.indexOf(c).toString(2).padStart(5, "0")).join("");
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor((Date.now() / 1000 + secondsAhead) / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const code = (mac.readUInt32BE(mac[mac.length - 1] & 0xf) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, "0");
}

async function save() {
  await Promise.all([page.waitForNavigation(), page.click("input[name=_save]")]);
  const errors = await page.locator(".errornote, .errorlist").allTextContents();
  if (errors.length) throw new Error(`form errors on ${page.url()}: ${errors.join(" | ")}`);
}

async function idFromChangelist(model, text) {
  await page.goto(`${base}/admin/promotions/${model}/`);
  const href = await page.locator(`#result_list a:text-is("${text}")`).first().getAttribute("href");
  return Number(href.match(/\/(\d+)\/change\//)[1]);
}

try {
  await login();
  if (process.argv[2] === "build") {
    const today = new Date().toISOString().slice(0, 10);
    await page.goto(`${base}/admin/promotions/campaign/add/`);
    await page.fill("#id_name", "Holiday coffee");
    await page.selectOption("#id_brand", { index: 1 });
    await page.fill("#id_starts_at_0", today);
    await page.fill("#id_starts_at_1", "00:00:00");
    await save();
    result.campaign_id = await idFromChangelist("campaign", "Holiday coffee");

    await page.goto(`${base}/admin/promotions/placement/add/`);
    await page.selectOption("#id_campaign", { label: "Holiday coffee" });
    await page.fill("#id_media_partner", "Instagram");
    await page.fill("#id_name", "Reels December");
    await page.fill("#id_spend", "300.00");
    await page.fill("#id_destination_url", "https://shop.example/holiday");
    await save();
    result.placement_id = await idFromChangelist("placement", "Reels December");
    await page.goto(`${base}/admin/promotions/placement/${result.placement_id}/change/`);
    result.tracking_link = (await page.locator(".field-tracking_link code").textContent()).trim();
    await page.screenshot({ path: `${artifacts}/placement.png`, fullPage: true });

    await page.goto(`${base}/admin/promotions/offer/add/`);
    await page.selectOption("#id_campaign", { label: "Holiday coffee" });
    await page.fill("#id_title", "Free gingerbread latte");
    await page.selectOption("#id_reward_type", "free_item");
    await page.fill("#id_reward_value", "5.50");
    await page.fill("#id_valid_from_0", today);
    await page.fill("#id_valid_from_1", "00:00:00");
    await page.selectOption("#id_status", "live");
    await save();
    result.offer_id = await idFromChangelist("offer", "Free gingerbread latte");
    await page.goto(`${base}/admin/promotions/offer/${result.offer_id}/change/`);
    result.preview_has_qr = await page.locator(".offer-preview img[src^='data:image/png']").count() === 1;
    await page.screenshot({ path: `${artifacts}/offer.png`, fullPage: true });

    await Promise.all([page.waitForNavigation(), page.click("text=Generate codes…")]);
    await page.fill("#id_count", "500");
    await page.selectOption("#id_placement", { label: "Instagram / Reels December" });
    await Promise.all([page.waitForNavigation(), page.click("#generate-codes input[type=submit]")]);
    await page.waitForFunction(() => document.querySelector(".field-status .readonly")?.textContent.includes("Done"),
                               null, { timeout: 30000, polling: 500 });
    result.job_progress = (await page.locator(".field-progress .readonly").textContent()).trim();
    await page.screenshot({ path: `${artifacts}/code-job.png`, fullPage: true });

    await page.goto(`${base}/admin/promotions/campaign/`);
    result.campaign_list = await page.locator("#result_list").textContent();
    await page.goto(`${base}/admin/promotions/campaign/${process.env.RIVAL_CAMPAIGN_ID}/change/`);
    result.rival_page = await page.content();
    result.rival_url = page.url();
  } else if (process.argv[2] === "demo") {
    // The seeded demo as a marketer evaluating the product sees it, on a 1,280 px screen.
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${base}/admin/`);
    result.menu = await page.locator("#nav-sidebar, #content-main").first().textContent();
    result.view_site = await page.locator("#user-tools a", { hasText: "View site" }).getAttribute("href");
    const icon = await page.request.get(`${base}/favicon.ico`);
    result.favicon = { status: icon.status(), type: icon.headers()["content-type"] };
    await page.goto(`${base}/admin/promotions/campaign/add/`);
    result.brand_preselected = await page.locator("#id_brand").inputValue();
    await page.goto(`${base}/admin/promotions/codejob/${process.env.JOB_ID}/change/`);
    result.job_buttons = await page.locator("input[name=_save], input[name=_continue], a.deletelink").count();
    await page.goto(`${base}/admin/promotions/campaign/`);
    result.list_has_dashboard = await page.locator("#result_list a", { hasText: "Dashboard" }).first().isVisible();
    await page.goto(`${base}/admin/promotions/campaign/${process.env.CAMPAIGN_ID}/change/`);
    await Promise.all([page.waitForNavigation(), page.click("#campaign-dashboard")]);
    await page.waitForSelector("body[data-charts-ready=true]");
    result.dashboard_url = page.url();
    result.overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    result.charts = await page.evaluate(() =>
      [...document.querySelectorAll("canvas")].map((canvas) => {
        const chart = Chart.getChart(canvas);
        const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
        return { id: canvas.id, painted, precision: chart.options.scales.y.ticks.precision,
                 points: chart.data.datasets[0].data.length };
      }));
    result.kpis = Object.fromEntries(await page.$$eval(".kpi strong", (nodes) => nodes.map((n) => [n.id, n.textContent.trim()])));
    await page.screenshot({ path: `${artifacts}/demo-dashboard.png`, fullPage: false });
  } else if (process.argv[2] === "two-factor") {
    // Turned on from the user links; the next login then asks for the code.
    await Promise.all([page.waitForNavigation(), page.click("#user-tools a:text-is('Two-factor')")]);
    result.qr_loaded = await page.locator("#two-factor-qr").evaluate((img) => img.complete && img.naturalWidth > 100);
    const secret = (await page.locator("code.secret").textContent()).trim();
    await page.screenshot({ path: `${artifacts}/two-factor-setup.png`, fullPage: true });
    await page.fill("#id_code", totp(secret));
    await Promise.all([page.waitForNavigation(), page.click("#two-factor-setup input[type=submit]")]);
    result.after_setup = new URL(page.url()).pathname;
    result.message = await page.locator(".messagelist").textContent();
    await Promise.all([page.waitForNavigation(), page.click("#logout-form button[type=submit]")]);
    await login();
    result.asked_at = new URL(page.url()).pathname + new URL(page.url()).search;
    await page.screenshot({ path: `${artifacts}/two-factor-verify.png`, fullPage: true });
    await page.fill("#id_code", totp(secret, 30));  // the enrolment's code is spent: the next one
    await Promise.all([page.waitForNavigation(), page.click("#two-factor-verify input[type=submit]")]);
    result.after_verify = new URL(page.url()).pathname;
    result.index_title = await page.locator("h1").first().textContent();
  } else {
    await page.goto(`${base}/admin/promotions/campaign/${process.env.CAMPAIGN_ID}/dashboard/`);
    await page.waitForSelector("body[data-charts-ready=true]");
    result.charts = await page.evaluate(() =>
      [...document.querySelectorAll("canvas")].map((canvas) => {
        const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
        return { id: canvas.id, width: canvas.width, height: canvas.height, painted };
      }));
    result.kpis = Object.fromEntries(await page.$$eval(".kpi strong", (nodes) => nodes.map((n) => [n.id, n.textContent.trim()])));
    result.placements_table = await page.locator("#table-placements").textContent();
    result.stores_table = await page.locator("#table-stores").textContent();
    await page.screenshot({ path: `${artifacts}/dashboard.png`, fullPage: true });
  }
  console.log("RESULT " + JSON.stringify(result));
} catch (error) {
  await page.screenshot({ path: `${artifacts}/failure-${process.argv[2]}.png`, fullPage: true });
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
