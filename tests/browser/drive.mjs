// Drives Debian Chromium (playwright-core) through a sign-in:
//
//   node drive.mjs URL [--login NAME] [--deny] [--timeout MS]
//
// Opens URL and, until the browser is on our status page
// (/web/handshake/...) and that page no longer says "Connecting", clicks
// what a person would: our confirmation ("Continue to ..."), the
// provider's own login form (any password) and its consent page
// ("Continue", or "[ Cancel ]" with --deny). Prints one JSON line
// {"url", "text", "steps"} and exits 0, or 1 with "error" on a timeout.
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const url = args[0];
let login = 'alice';
let deny = false;
let timeout = 30000;
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--login') login = args[++i];
  else if (args[i] === '--deny') deny = true;
  else if (args[i] === '--timeout') timeout = Number(args[++i]);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const page = await browser.newPage();
const steps = [];
const deadline = Date.now() + timeout;
let result = null;
try {
  await page.goto(url);
  while (Date.now() < deadline) {
    try {
      result = await step();
    } catch (e) {
      // Our status page reloads itself: a look at it may race the reload.
      if (!/context was destroyed|navigat/i.test(String(e))) throw e;
      await page.waitForTimeout(100);
    }
    if (result) break;
  }
} catch (e) {
  result = { url: page.url(), text: '', steps, error: String(e).split('\n')[0] };
}

// One look at the page: the final result, or null after acting on it.
async function step() {
  await page.waitForLoadState('load');
  const here = new URL(page.url());
  const text = await page.evaluate(() => document.body ? document.body.innerText : '');
  if (here.pathname.startsWith('/web/handshake/') && !text.includes('onnecting')) {
    return { url: page.url(), text, steps };
  }
  const ours = page.locator('form[method=post] button', { hasText: /^Continue to / });
  const loginForm = page.locator('input[name=login]');
  const consent = page.locator('input[name=prompt][value=consent]');
  if (await ours.count()) {
    steps.push('confirm');
    await Promise.all([page.waitForNavigation(), ours.first().click()]);
  } else if (await loginForm.count()) {
    steps.push('provider-login');
    await loginForm.fill(login);
    await page.locator('input[name=password]').fill('any password');
    await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').click()]);
  } else if (await consent.count()) {
    steps.push(deny ? 'provider-deny' : 'provider-consent');
    const target = deny ? page.locator('a', { hasText: '[ Cancel ]' })
      : page.locator('button[type=submit]');
    await Promise.all([page.waitForNavigation(), target.click()]);
  } else {
    await page.waitForTimeout(200); // our status page refreshes itself
  }
  return null;
}
if (!result) {
  const text = await page.evaluate(() => document.body.innerText).catch(() => '');
  result = { url: page.url(), text, steps, error: 'timeout' };
}
process.stdout.write(`${JSON.stringify(result)}\n`);
await browser.close();
process.exit(result.error ? 1 : 0);
