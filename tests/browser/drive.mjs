// Drives Debian Chromium (playwright-core) through a sign-in:
//
//   node drive.mjs URL [--login NAME] [--deny] [--until PATH_PREFIX]
//                      [--timeout MS]
//
// Opens URL and, until the browser is on a page whose path starts with
// PATH_PREFIX (default /web/handshake/) and that page no longer says
// "Connecting" (our status page refreshes itself until final), clicks
// what a person would:
//   confirm          our confirmation page (a POST form whose button says
//                    "Continue ...")
//   provider-login   oidc-provider's login page: login NAME (default
//                    alice), any password, "Sign-in"
//   provider-consent oidc-provider's consent page: "Continue"
//   provider-deny    with --deny, its "[ Cancel ]" link on the consent
//                    page (the login page has the same link; we sign in
//                    first, as a person who refuses the consent would)
// Prints one JSON line {"url", "text", "steps"} (the final URL, the
// page's innerText, the steps above in order) and exits 0; on a timeout
// the same with "error": "timeout" and exits 1 (any other failure: its
// first line as "error", exit 1). Prints no cookies.
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const url = args[0];
let login = 'alice';
let deny = false;
let until = '/web/handshake/';
let timeout = 30000;
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--login') login = args[++i];
  else if (args[i] === '--deny') deny = true;
  else if (args[i] === '--until') until = args[++i];
  else if (args[i] === '--timeout') timeout = Number(args[++i]);
  else { console.error(`drive: unknown argument ${args[i]}`); process.exit(2); }
}
if (!url || !login || !until || !(timeout > 0)) {
  console.error('usage: node drive.mjs URL [--login NAME] [--deny] [--until PATH_PREFIX] [--timeout MS]');
  process.exit(2);
}

const deadline = Date.now() + timeout;
const steps = [];
// Whatever happens, the process ends: the browser's close gets 10 s more.
setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ url, text: '', steps, error: 'timeout' })}\n`);
  process.exit(1);
}, timeout + 10000).unref();

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  timeout,
});
const page = await browser.newPage();
page.setDefaultTimeout(timeout);
let result = null;
try {
  await page.goto(url);
  while (!result && Date.now() < deadline) {
    try {
      result = await step();
    } catch (e) {
      // Our status page reloads itself: a look at it may race the reload.
      if (!/context was destroyed|navigat|Target closed/i.test(String(e))) throw e;
      await page.waitForTimeout(100);
    }
  }
} catch (e) {
  result = { url: page.url(), text: '', steps, error: String(e).split('\n')[0] };
}

async function bodyText() {
  return page.evaluate(() => (document.body ? document.body.innerText : ''));
}

// Clicks `target` and waits for the page it leads to.
async function follow(target) {
  await Promise.all([page.waitForNavigation(), target.click()]);
}

// One look at the page: the final result, or null after acting on it.
async function step() {
  await page.waitForLoadState('load');
  const here = new URL(page.url());
  const text = await bodyText();
  if (here.pathname.startsWith(until) && !text.includes('onnecting')) {
    return { url: page.url(), text, steps };
  }
  // oidc-provider's pages first: its consent form is a POST form with a
  // "Continue" button too, told apart by its hidden prompt input.
  const loginForm = page.locator('form input[name=login]');
  const consent = page.locator('form input[name=prompt][value=consent]');
  const ours = page.locator('form[method=post]:not(:has(input[name=prompt])) button',
    { hasText: /^\s*Continue/ });
  if (await loginForm.count() && await page.locator('form input[name=password]').count()) {
    steps.push('provider-login');
    await loginForm.first().fill(login);
    await page.locator('form input[name=password]').first().fill('any password');
    await follow(page.locator('form button[type=submit]').first());
  } else if (await consent.count()) {
    steps.push(deny ? 'provider-deny' : 'provider-consent');
    await follow(deny ? page.locator('a', { hasText: '[ Cancel ]' }).first()
      : page.locator('form button[type=submit]').first());
  } else if (await ours.count()) {
    steps.push('confirm');
    await follow(ours.first());
  } else {
    await page.waitForTimeout(200); // our status page refreshes itself
  }
  return null;
}

if (!result) {
  const text = await bodyText().catch(() => '');
  result = { url: page.url(), text, steps, error: 'timeout' };
}
process.stdout.write(`${JSON.stringify(result)}\n`);
await browser.close().catch(() => {});
process.exit(result.error ? 1 : 0);
