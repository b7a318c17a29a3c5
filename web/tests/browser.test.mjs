// The web client in headless Chromium against real `agora serve` processes (and the testnet's
// LyingServer), run by crates/cli/tests/it/web.rs. One browser for every test; each person is a
// browser context on the page their own server serves. Every check is on what a person sees.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
    ADMIN_TOKEN, BIN, launch, nav, ownLink, person, png, postCard, screenshot, startServer, stopAll, until, waitSent, writePost,
} from './support.mjs';

const skip = !BIN && 'AGORA_BIN is not set (crates/cli/tests/it/web.rs runs this file)';
let browser;
before(async () => { if (!skip) browser = await launch(); });
after(async () => { await browser?.close(); stopAll(); });

test('two people on disjoint servers: post with image and topic, follow by link, reply and like', { skip }, async () => {
    const [one, two] = [await startServer(), await startServer()];
    const ada = await person(one.url, 'Ada');
    const bob = await person(two.url, 'Bob');

    await writePost(ada.page, 'Walruses are underrated', { topic: 'walrus', image: png(640, 480) });
    await waitSent(ada.page);
    const adaLink = await ownLink(ada.page);
    assert.match(adaLink, /^polycentric:\/\//);

    // Bob follows Ada through her link (its server hints are Ada's server, which Bob never used).
    await nav(bob.page, 'Home');
    await bob.page.getByLabel('Follow someone by their link').fill(adaLink);
    await bob.page.getByRole('button', { name: 'Follow', exact: true }).click();
    const card = postCard(bob.page, 'Walruses are underrated');
    await card.waitFor();
    assert.equal(await card.getByRole('link', { name: 'Ada' }).count(), 1, 'the author is named');
    await card.getByRole('link', { name: '#walrus' }).waitFor();
    const image = card.getByRole('img', { name: 'Image attached to the post' });
    await image.waitFor();
    await until('the image is drawn', () => image.evaluate((img) => img.complete && img.naturalWidth === 640));

    // Bob opens the post, likes it and replies.
    await card.locator('a.time').click();
    await bob.page.getByRole('heading', { name: 'Post', level: 1 }).waitFor();
    await bob.page.getByRole('button', { name: /^Like/ }).click();
    await bob.page.getByLabel('Write a reply').fill('They really are');
    await bob.page.getByRole('button', { name: 'Reply', exact: true }).click();
    await waitSent(bob.page);

    // Ada sees the reply and the counts on her post's page.
    await nav(ada.page, 'Home');
    await postCard(ada.page, 'Walruses are underrated').locator('a.time').click();
    await postCard(ada.page, 'They really are').getByRole('link', { name: 'Bob' }).waitFor();
    await until('one like', async () => (await ada.page.getByTestId('likes').textContent()) === '1' || (await ada.page.reload(), false));
    assert.equal(await ada.page.getByTestId('dislikes').textContent(), '0');
    assert.equal(await ada.page.getByTestId('reply-count').textContent(), '1');
    await screenshot(ada.page, 'post-1280');
    await ada.context.close();
    await bob.context.close();
});
