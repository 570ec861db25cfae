// Headless Chromium on a running ComfyUI's real frontend, for the scripts and tests that drive it
// (scripts/screenshot_graph.js, tests/nodes/*_check.js). Needs HARNESS_ROOT (the harness's playwright-core).
const path = require('path');
const fs = require('fs');
const os = require('os');
const { chromium } = require(path.join(process.env.HARNESS_ROOT, 'pw', 'node_modules', 'playwright-core'));

// A fresh browser profile and its page; close() removes both.
async function launch({ width = 1400, height = 900 } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-profile-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, viewport: { width, height },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const close = async () => {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { page, close };
}

// Load the frontend and wait until its app, graph and canvas are up (and its extensions ran).
async function openComfy(page, url = process.env.COMFY_URL) {
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => window.app && window.app.graph && window.app.canvas, null, { timeout: 90000 });
  await page.waitForTimeout(1500);
}

module.exports = { launch, openComfy };
