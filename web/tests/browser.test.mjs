// The web client in headless Chromium against real `agora serve` processes (and the testnet's
// LyingServer), run by crates/cli/tests/it/web.rs. One browser for every test; each person is a
// browser context on the page their own server serves. Every check is on what a person sees.
// The tests run in order and share servers `one` and `two`: later tests read what earlier ones
// published (Ada's walrus post, Cleo's narwhal posts and link), and the paging test, which fills
// explore, comes last.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
    ADMIN_TOKEN, BIN, accessibilityProblems, agora, agoraStart, tempHome, visit, addServer, launch, official, officialBlob, officialPosts, officialUsername, stopHandle, withHint, nav, ownLink, person, png, postCard, screenshot, startServer, stopAll, until, waitSent, writePost,
} from './support.mjs';

const skip = !BIN && 'AGORA_BIN is not set (crates/cli/tests/it/web.rs runs this file)';
let browser, one, two;
before(async () => {
    if (skip) return;
    [browser, one, two] = await Promise.all([launch(), startServer(), startServer()]);
});
after(async () => { await browser?.close(); stopAll(); });

test('two people on disjoint servers: post with image and topic, follow by link, reply and like', { skip }, async () => {
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

/** The `from:` line of the card of `text` on the page. */
const fromLine = (page, text) => postCard(page, text).locator('.from').textContent();

test('search and explore merge two servers and name the servers of each result; a curated post shows from the other only', { skip }, async () => {
    const cleo = await person(one.url, 'Cleo');
    await addServer(cleo.page, two.url);
    await addServer(cleo.page, process.env.AGORA_LIAR_UPSTREAM);
    await writePost(cleo.page, 'Narwhal tusks are teeth', { topic: 'narwhal' });
    await writePost(cleo.page, 'Narwhal pods sing', { topic: 'narwhal' });
    await waitSent(cleo.page);
    cleoLink = await ownLink(cleo.page);

    // The operator of server one keeps the first post out of its recommendations.
    const postLink = await postCard(cleo.page, 'Narwhal tusks are teeth').locator('a.time').getAttribute('href');
    const censored = await fetch(`${one.url}/censor?censorship_type=do_not_recommend`, {
        method: 'POST', headers: { authorization: ADMIN_TOKEN }, body: `${one.url}${postLink}`,
    });
    assert.equal(censored.status, 200, await censored.text());

    const dan = await person(two.url, 'Dan');
    await addServer(dan.page, one.url);
    await nav(dan.page, 'Search');
    await dan.page.getByLabel('Search posts or people').fill('narwhal');
    await dan.page.getByRole('button', { name: 'Search', exact: true }).click();
    await postCard(dan.page, 'Narwhal pods sing').waitFor();
    assert.equal(await fromLine(dan.page, 'Narwhal pods sing'), `from: ${two.url}, ${one.url}`);
    assert.equal(await fromLine(dan.page, 'Narwhal tusks are teeth'), `from: ${two.url}`);

    // People: Cleo's profile is on both servers.
    await dan.page.getByRole('link', { name: 'Search people' }).click();
    await dan.page.getByLabel('Search posts or people').fill('Cleo');
    await dan.page.getByRole('button', { name: 'Search', exact: true }).click();
    const cleoFound = dan.page.locator('.people li').filter({ hasText: 'Cleo' });
    await cleoFound.waitFor();
    assert.equal(await cleoFound.locator('.from').textContent(), `from: ${two.url}, ${one.url}`);

    await nav(dan.page, 'Explore');
    await postCard(dan.page, 'Narwhal pods sing').waitFor();
    assert.equal(await fromLine(dan.page, 'Narwhal pods sing'), `from: ${two.url}, ${one.url}`);
    assert.equal(await fromLine(dan.page, 'Narwhal tusks are teeth'), `from: ${two.url}`);
    // Ada's post lives on server one only.
    assert.equal(await fromLine(dan.page, 'Walruses are underrated'), `from: ${one.url}`);

    await nav(dan.page, 'Trending');
    const narwhal = dan.page.getByRole('listitem').filter({ hasText: '#narwhal' });
    await narwhal.waitFor();
    // Both servers hold both narwhal posts (server one counts one, having curated the other out
    // of discovery): each post counts once, not once per server.
    assert.match(await narwhal.textContent(), /\b2 posts\b/);
    await narwhal.getByRole('link', { name: '#narwhal' }).click();
    await dan.page.getByRole('heading', { name: '#narwhal' }).waitFor();
    await postCard(dan.page, 'Narwhal pods sing').waitFor();
    await postCard(dan.page, 'Narwhal tusks are teeth').waitFor();
    await cleo.context.close();
    await dan.context.close();
});

let cleoLink;

test('a lying server is named and its forged and altered events are not shown', { skip }, async () => {
    const liar = process.env.AGORA_LIAR;
    const injected = process.env.AGORA_INJECTED_TEXT;
    const eve = await person(one.url, 'Eve');
    // Cleo's link, with the liar as its first server hint.
    await eve.page.goto(`${one.url}/user/${await withHint(cleoLink, liar)}`);
    await eve.page.getByRole('heading', { name: 'Cleo', level: 1 }).waitFor();
    await postCard(eve.page, 'Narwhal pods sing').waitFor();
    const notice = eve.page.getByRole('status').filter({ hasText: 'Not used for this profile' });
    await notice.waitFor();
    assert.match(await notice.textContent(), new RegExp(`${liar}.*served an invalid event`));
    assert.equal(await eve.page.getByText(injected).count(), 0, 'the injected post is not shown');
    assert.equal(await eve.page.locator('article.post').count(), 2, "only Cleo's two posts");

    // The liar as one of Eve's own servers: explore names it and uses the honest answer.
    await addServer(eve.page, liar);
    await nav(eve.page, 'Explore');
    await postCard(eve.page, 'Narwhal pods sing').waitFor();
    const failed = eve.page.getByRole('status').filter({ hasText: 'Not used for explore' });
    await failed.waitFor();
    assert.match(await failed.textContent(), new RegExp(`${liar}.*served an invalid event`));
    // And in search.
    await nav(eve.page, 'Search');
    await eve.page.getByLabel('Search posts or people').fill('narwhal');
    await eve.page.getByRole('button', { name: 'Search', exact: true }).click();
    await postCard(eve.page, 'Narwhal pods sing').waitFor();
    const searchFailed = eve.page.getByRole('status').filter({ hasText: 'Not used for this search' });
    await searchFailed.waitFor();
    assert.match(await searchFailed.textContent(), new RegExp(`${liar}.*served an invalid event`));
    await eve.context.close();
});

test('with every server stopped the page shows what was read and takes a post, which reaches the servers when they return', { skip }, async () => {
    const [three, four] = [await startServer(), await startServer()];
    const gus = await person(three.url, 'Gus');
    await writePost(gus.page, 'Written before the outage');
    await waitSent(gus.page);
    const gusLink = await ownLink(gus.page);

    const fay = await person(four.url, 'Fay');
    await nav(fay.page, 'Home');
    await fay.page.getByLabel('Follow someone by their link').fill(gusLink);
    await fay.page.getByRole('button', { name: 'Follow', exact: true }).click();
    await postCard(fay.page, 'Written before the outage').waitFor();
    await waitSent(fay.page);
    const fayLink = await ownLink(fay.page);
    // The offline shell is in place once the service worker controls the page.
    await until('the service worker caches the page', () => fay.page.evaluate(async () =>
        !!navigator.serviceWorker.controller && !!(await caches.match('/'))));

    await Promise.all([three.stop(), four.stop()]);
    await fay.page.reload();
    await nav(fay.page, 'Home');
    await postCard(fay.page, 'Written before the outage').waitFor();
    const notice = fay.page.getByRole('status').filter({ hasText: 'Not used for this feed' });
    await notice.waitFor();
    assert.match(await notice.textContent(), new RegExp(`${four.url}.*cannot be reached`));
    await writePost(fay.page, 'Written during the outage');
    await postCard(fay.page, 'Written during the outage').getByText('Waiting for a server').waitFor();
    await fay.page.getByText(/waiting for a server; they are sent when one answers/).waitFor();
    await screenshot(fay.page, 'offline-1280');

    await Promise.all([three.resume(), four.resume()]);
    await waitSent(fay.page);
    // Gus reads Fay's profile from her server: the post written offline is there.
    await gus.page.goto(`${three.url}/user/${fayLink.replace('polycentric://', '')}`);
    await postCard(gus.page, 'Written during the outage').waitFor();
    await gus.context.close();
    await fay.context.close();
    await Promise.all([three.stop(), four.stop()]);
});

test('what the web client publishes (post, image, name) the official client reads and verifies, and the reverse', { skip }, async () => {
    const { Long, Models, ProcessHandle, Protocol, Queries } = await official();
    const hal = await person(one.url, 'Hal');
    await writePost(hal.page, 'Signed in a browser', { image: png(320, 200) });
    await waitSent(hal.page);
    const link = await ownLink(hal.page);
    const info = Protocol.URLInfo.decode(Buffer.from(link.replace('polycentric://', ''), 'base64url'));
    const halSystem = Models.URLInfo.getSystemLink(info).system;

    // The official client, given only the link, reads Hal's name and post through its own
    // queries, which verify every signature.
    const reader = await ProcessHandle.createTestProcessHandle();
    try {
        reader.addAddressHint(halSystem, one.url);
        const posts = await officialPosts(reader, halSystem, Queries, Models, Protocol, (t) => t.includes('Signed in a browser'));
        assert.deepEqual(posts.map((p) => p.content), ['Signed in a browser']);
        // The image: a PNG of the declared size and byte count, through the official QueryBlob.
        const manifest = posts[0].image;
        assert.equal(manifest.mime, 'image/png');
        const bytes = await officialBlob(reader, halSystem, manifest, { Queries, Models });
        assert.equal(bytes.length, manifest.byteCount.toNumber());
        const header = Buffer.from(bytes.slice(0, 24));
        assert.equal(header.toString('latin1', 1, 4), 'PNG');
        assert.deepEqual([header.readUInt32BE(16), header.readUInt32BE(20)], [320, 200]);
        assert.deepEqual([manifest.width.toNumber(), manifest.height.toNumber()], [320, 200]);
        const name = await officialUsername(reader, halSystem, { Queries, Models }, 'Hal');
        assert.equal(name, 'Hal');

        // The official client publishes; Hal follows it by a link and reads it in the page.
        const author = await ProcessHandle.createTestProcessHandle();
        await author.addServer(one.url);
        await author.setUsername('Official Olga');
        const picture = png(240, 160);
        const sections = await author.publishBlob(picture);
        await author.post('Signed by the official client', {
            mime: 'image/png', width: Long.fromNumber(240, true), height: Long.fromNumber(160, true),
            byteCount: Long.fromNumber(picture.length, true),
            process: author.process(), sections,
        });
        await ProcessHandle.fullSync(author);
        stopHandle(author);
        const olgaLink = 'polycentric://' + Buffer.from(Protocol.URLInfo.encode({
            urlType: Models.URLInfo.URLInfoTypeSystemLink,
            body: Protocol.URLInfoSystemLink.encode({ system: author.system(), servers: [one.url] }).finish(),
        }).finish()).toString('base64url');
        await nav(hal.page, 'Home');
        await hal.page.getByLabel('Follow someone by their link').fill(olgaLink);
        await hal.page.getByRole('button', { name: 'Follow', exact: true }).click();
        const card = postCard(hal.page, 'Signed by the official client');
        await card.getByRole('link', { name: 'Official Olga' }).waitFor();
        const image = card.getByRole('img', { name: 'Image attached to the post' });
        await until("the official client's image is drawn", () => image.evaluate((img) => img.complete && img.naturalWidth === 240));
    } finally {
        stopHandle(reader);
    }
    await hal.context.close();
});

test('identities move between agora and the browser, and between browsers, by backup links', { skip }, async () => {
    const home = tempHome();
    await agora(home, 'init', '--name', 'Ivy');
    await agora(home, 'server', 'add', one.url);
    await agora(home, 'post', 'Typed in a terminal');
    const cliBackup = (await agora(home, 'export')).trim();

    // Imported into a browser: the same identity, its name and posts.
    const { context, page } = await visit(one.url);
    await page.getByLabel(/Account backup link/).fill(cliBackup);
    await page.getByRole('button', { name: 'Import' }).click();
    await postCard(page, 'Typed in a terminal').waitFor();
    await writePost(page, 'Typed in a browser');
    await waitSent(page);
    await nav(page, 'Profile');
    await page.getByRole('heading', { name: 'Ivy', level: 1 }).waitFor();

    // The terminal reads what the browser published under the same key.
    await agora(home, 'sync');
    const feed = await agora(home, 'feed');
    assert.match(feed, /Typed in a browser/);

    // The browser's own backup opens the identity in another browser.
    await nav(page, 'Settings');
    await page.getByRole('button', { name: 'Show backup link' }).click();
    const webBackup = await page.getByLabel('Backup link').inputValue();
    assert.match(webBackup, /^polycentric:\/\//);
    const { context: other, page: second } = await visit(two.url, { viewport: { width: 390, height: 800 } });
    await second.getByLabel(/Account backup link/).fill(webBackup);
    await second.getByRole('button', { name: 'Import' }).click();
    await postCard(second, 'Typed in a browser').waitFor();
    await postCard(second, 'Typed in a terminal').waitFor();
    await nav(second, 'Profile');
    await second.getByRole('heading', { name: 'Ivy', level: 1 }).waitFor();
    // A backup that is not one is refused with a reason.
    const { context: fresh, page: third } = await visit(two.url);
    await third.getByLabel(/Account backup link/).fill('polycentric://nonsense');
    await third.getByRole('button', { name: 'Import' }).click();
    await third.getByRole('alert').filter({ hasText: 'not an account backup' }).waitFor();
    await context.close();
    await other.close();
    await fresh.close();
});

test('a browser paired as a device of an identity made by agora posts as that identity', { skip }, async () => {
    const home = tempHome();
    await agora(home, 'init', '--name', 'Nia');
    await agora(home, 'server', 'add', one.url);
    await agora(home, 'post', 'Posted with the root key');
    const link = (await agora(home, 'link')).trim();

    const { context, page } = await visit(one.url);
    await page.getByLabel(/Your identity's link/).fill(link);
    await page.getByRole('button', { name: 'Pair' }).click();
    const code = await page.getByTestId('pairing-code').textContent();
    const words = await page.getByTestId('confirmation-words').textContent();
    assert.equal(words.split(' ').length, 5);

    // The root's home shows the same words and approves.
    const approved = await agora(home, 'device', 'approve', code, '--yes', '--name', 'browser');
    assert.match(approved, new RegExp(`confirmation: ${words}`));
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    await postCard(page, 'Posted with the root key').waitFor();
    await writePost(page, 'Posted from a paired browser');
    await waitSent(page);
    // The browser's post is the identity's: named Nia here and in the terminal's feed.
    await postCard(page, 'Posted from a paired browser').getByRole('link', { name: 'Nia' }).waitFor();
    await agora(home, 'sync');
    assert.match(await agora(home, 'feed'), /Posted from a paired browser/);
    await context.close();

    // Someone else meets the device's post in explore: it is shown as the identity's.
    const oli = await person(one.url, 'Oli');
    await nav(oli.page, 'Explore');
    await postCard(oli.page, 'Posted from a paired browser').getByRole('link', { name: 'Nia' }).waitFor();
    await oli.context.close();
});

test('a browser holding the root key approves a terminal as a device and revokes it', { skip }, async () => {
    const pia = await person(one.url, 'Pia');
    const link = await ownLink(pia.page);
    const home = tempHome();
    const pairing = agoraStart(home, 'device', 'pair', link, '--timeout-secs', '60');
    const [, code] = await until('a pairing code', async () => pairing.stdout.match(/pairing code: (\S+)/));
    const [, words] = pairing.stdout.match(/confirmation: (.+)/);

    await nav(pia.page, 'Settings');
    await pia.page.getByLabel(/Approve a device by its pairing code/).fill(code);
    await pia.page.getByRole('button', { name: 'Find device' }).click();
    assert.equal(await pia.page.getByTestId('approve-words').textContent(), words);
    await pia.page.getByLabel('Name of the device').fill('laptop');
    await pia.page.getByRole('button', { name: 'The words match: approve' }).click();
    await waitSent(pia.page);
    assert.equal(await pairing.exited, 0, pairing.stderr);
    assert.match(pairing.stdout, /paired: this home is device "laptop" of Pia/);

    // The terminal posts as Pia.
    await agora(home, 'post', 'Posted from a paired terminal');
    await nav(pia.page, 'Profile');
    await postCard(pia.page, 'Posted from a paired terminal').getByRole('link', { name: 'Pia' }).waitFor();

    // Revoked: what it signed stays; what it signs later is refused.
    await nav(pia.page, 'Settings');
    pia.page.once('dialog', (dialog) => dialog.accept());
    await pia.page.getByRole('button', { name: 'Revoke laptop' }).click();
    await pia.page.locator('ul.servers li').filter({ hasText: 'laptop' }).getByText('revoked').waitFor();
    await waitSent(pia.page);
    const late = await agora(home, 'post', 'Posted after the revocation', '--json').catch((error) => error.stdout);
    assert.match(late, /revoked/);
    await nav(pia.page, 'Profile');
    await postCard(pia.page, 'Posted from a paired terminal').waitFor();
    assert.equal(await pia.page.getByText('Posted after the revocation').count(), 0);
    await pia.context.close();
});

test('the home feed shows a followed person\'s new post live, without reloading', { skip }, async () => {
    const home = tempHome();
    await agora(home, 'init', '--name', 'Ruth');
    await agora(home, 'server', 'add', two.url);
    const ruthLink = (await agora(home, 'link')).trim();
    const quinn = await person(one.url, 'Quinn');
    await quinn.page.getByLabel('Follow someone by their link').fill(ruthLink);
    await quinn.page.getByRole('button', { name: 'Follow', exact: true }).click();
    await waitSent(quinn.page);
    // Subscribed once the feed was read; a post written now is pushed to the page.
    await quinn.page.getByText('New posts appear here as they are written').waitFor();
    await agora(home, 'post', 'Written while Quinn watches');
    await postCard(quinn.page, 'Written while Quinn watches').getByRole('link', { name: 'Ruth' }).waitFor();
    await quinn.context.close();
});

test('people edit their profile, claim a handle, dislike, delete their posts, and block and unblock others', { skip }, async () => {
    const jay = await person(one.url, 'J');
    const kim = await person(one.url, 'Kim');
    await writePost(kim.page, 'Kim says buy my stuff');
    await waitSent(kim.page);
    const kimLink = await ownLink(kim.page);

    // Profile: name, description and avatar.
    await nav(jay.page, 'Profile');
    await jay.page.getByText('Edit profile').click();
    await jay.page.getByLabel('Name', { exact: true }).fill('Jay');
    await jay.page.getByLabel('Description').fill('Writes about whales');
    await jay.page.getByLabel('Avatar').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: png(400, 300) });
    await jay.page.getByRole('button', { name: 'Save profile' }).click();
    await jay.page.getByRole('heading', { name: 'Jay', level: 1 }).waitFor();
    await jay.page.getByText('Writes about whales').first().waitFor();
    await until('the avatar is drawn', () => jay.page.locator('.profile-head img.avatar').evaluate((img) => img.complete && img.naturalWidth === 128));

    // Handle.
    await nav(jay.page, 'Settings');
    await jay.page.getByLabel(/Claim a handle/).fill('jay_whales');
    await jay.page.getByRole('button', { name: 'Claim' }).click();
    await jay.page.getByText(`claimed jay_whales on ${one.url}`).waitFor();
    assert.equal((await fetch(`${one.url}/resolve_handle?handle=jay_whales`)).status, 200);

    // Delete an own post.
    await writePost(jay.page, 'A post Jay regrets');
    await postCard(jay.page, 'A post Jay regrets').locator('a.time').click();
    jay.page.once('dialog', (dialog) => dialog.accept());
    await jay.page.getByRole('button', { name: 'Delete' }).click();
    await jay.page.getByRole('heading', { name: 'Jay', level: 1 }).waitFor();
    await jay.page.getByRole('heading', { name: 'Posts' }).waitFor();
    assert.equal(await jay.page.getByText('A post Jay regrets').count(), 0);

    // Follow Kim, dislike her post, then block her: gone from the feed and explore.
    await nav(jay.page, 'Home');
    await jay.page.getByLabel('Follow someone by their link').fill(kimLink);
    await jay.page.getByRole('button', { name: 'Follow', exact: true }).click();
    await postCard(jay.page, 'Kim says buy my stuff').locator('a.time').click();
    const dislike = jay.page.getByRole('button', { name: /^Dislike/ });
    await dislike.click();
    await until('Jay dislikes it', async () => (await dislike.getAttribute('aria-pressed')) === 'true');
    await until('one dislike counted', async () => (await jay.page.getByTestId('dislikes').textContent()) === '1' || (await jay.page.reload(), false));
    await postCard(jay.page, 'Kim says buy my stuff').getByRole('link', { name: 'Kim' }).click();
    await jay.page.getByRole('button', { name: 'Block' }).click();
    await jay.page.getByText('You blocked this person').waitFor();
    await nav(jay.page, 'Home');
    await jay.page.getByRole('heading', { name: 'Your feed' }).waitFor();
    await postCard(jay.page, 'Kim says buy my stuff').waitFor({ state: 'detached' });
    await nav(jay.page, 'Explore');
    await postCard(jay.page, 'Narwhal pods sing').waitFor();
    assert.equal(await jay.page.getByText('Kim says buy my stuff').count(), 0, 'blocked in explore');
    await nav(jay.page, 'Settings');
    await jay.page.getByRole('button', { name: 'Unblock Kim' }).click();
    await nav(jay.page, 'Explore');
    await postCard(jay.page, 'Kim says buy my stuff').waitFor();

    // Filter levels are kept.
    await nav(jay.page, 'Settings');
    await jay.page.getByLabel('hate').selectOption('0');
    await jay.page.reload();
    assert.equal(await jay.page.getByLabel('hate').inputValue(), '0');
    await jay.context.close();
    await kim.context.close();
});

test('a person edits a post: a follower sees the new text marked edited in the feed, the post page with its history, search and explore, and agora reads it', { skip }, async () => {
    const original = 'Sturgeons can live for a century';
    const edited = 'Paddlefish can live for decades';
    const oli = await person(one.url, 'Oli');
    await writePost(oli.page, original);
    await waitSent(oli.page);
    const oliLink = await ownLink(oli.page);
    await postCard(oli.page, original).locator('a.time').click();
    await oli.page.getByRole('heading', { name: 'Post', level: 1 }).waitFor();
    const href = await postCard(oli.page, original).locator('a.time').getAttribute('href');
    await oli.page.getByText('Edit', { exact: true }).click();
    await oli.page.getByLabel('New text of this post').fill(edited);
    await screenshot(oli.page, 'post-edit-1280');
    await oli.page.getByRole('button', { name: 'Save edit' }).click();
    await postCard(oli.page, edited).locator('.edited').waitFor();
    await waitSent(oli.page);

    // A follower on another server (which also reads Oli's).
    const pia = await person(two.url, 'Pia');
    await addServer(pia.page, one.url);
    await nav(pia.page, 'Home');
    await pia.page.getByLabel('Follow someone by their link').fill(oliLink);
    await pia.page.getByRole('button', { name: 'Follow', exact: true }).click();
    const card = postCard(pia.page, edited);
    await card.getByText('edited', { exact: true }).waitFor();
    assert.equal(await pia.page.getByText(original).count(), 0, 'the old text is not shown in the feed');

    // The post page: the latest version, and the history lists both, oldest first.
    await card.locator('a.time').click();
    await pia.page.getByRole('heading', { name: 'Post', level: 1 }).waitFor();
    await postCard(pia.page, edited).locator('.edited').waitFor();
    assert.equal(await pia.page.getByText('Edit', { exact: true }).count(), 0, "no Edit control on another person's post");
    await pia.page.getByText(/^History/).click();
    const versions = pia.page.getByRole('list', { name: 'Versions, oldest first' }).locator('.version-text');
    await versions.nth(1).waitFor();
    assert.deepEqual(await versions.allTextContents(), [original, edited]);
    await screenshot(pia.page, 'post-edited-1280');

    // Search finds the post under its new word only, and shows the new text.
    const search = async (word) => {
        await nav(pia.page, 'Search');
        await pia.page.getByLabel('Search posts or people').fill(word);
        await pia.page.getByRole('button', { name: 'Search', exact: true }).click();
    };
    await search('paddlefish');
    await postCard(pia.page, edited).locator('.edited').waitFor();
    await search('sturgeons');
    await pia.page.getByText('Nothing found.').waitFor();

    // Explore shows the new text marked edited.
    await nav(pia.page, 'Explore');
    await postCard(pia.page, edited).locator('.edited').waitFor();
    assert.equal(await pia.page.getByText(original).count(), 0, 'the old text is not shown in explore');

    // Someone who never read Oli's log gets the edit with the search answer (related events).
    const rae = await person(one.url, 'Rae');
    await nav(rae.page, 'Search');
    await rae.page.getByLabel('Search posts or people').fill('paddlefish');
    await rae.page.getByRole('button', { name: 'Search', exact: true }).click();
    await postCard(rae.page, edited).locator('.edited').waitFor();
    await rae.context.close();

    // agora, following Oli, reads the edit the browser published as the latest version.
    const home = tempHome();
    await agora(home, 'init', '--name', 'Quin');
    await agora(home, 'server', 'add', one.url);
    await agora(home, 'follow', oliLink);
    await agora(home, 'sync');
    const shown = JSON.parse(await agora(home, 'show', `polycentric://${href.slice('/post/'.length)}`, '--history', '--json'));
    assert.equal(shown.post.text, edited, JSON.stringify(shown));
    assert.equal(typeof shown.post.edited_ms, 'number', JSON.stringify(shown));
    assert.deepEqual(shown.history.map((v) => v.text), [original, edited]);
    await oli.context.close();
    await pia.context.close();
});

test('the main pages have no serious accessibility problem and are photographed at 390 and 1280 px', { skip }, async () => {
    // axe-core is injected into the page, which the page's own CSP would refuse.
    const { context, page } = await visit(one.url, { bypassCSP: true });
    const problems = [];
    const check = async (name, ready) => {
        await ready();
        for (const width of [1280, 390]) {
            await page.setViewportSize({ width, height: 900 });
            const wide = await page.evaluate(() => document.documentElement.scrollWidth);
            assert.ok(wide <= width, `${name} fits ${width} px (content is ${wide} px wide)`);
            await screenshot(page, `${name}-${width}`);
            problems.push(...(await accessibilityProblems(page)).map((p) => `${name} at ${width} px: ${p}`));
        }
        await page.setViewportSize({ width: 1280, height: 900 });
    };
    await page.goto(one.url);
    await check('welcome', () => page.getByLabel('Your name').waitFor());
    await page.getByLabel('Your name').fill('Iris');
    await page.getByRole('button', { name: 'Create identity' }).click();
    await page.getByLabel('Follow someone by their link').fill(cleoLink);
    await page.getByRole('button', { name: 'Follow', exact: true }).click();
    await writePost(page, 'Accessible posts for everyone', { topic: 'narwhal', image: png(300, 200) });
    await check('home', () => postCard(page, 'Narwhal pods sing').waitFor());
    await postCard(page, 'Narwhal pods sing').locator('a.time').click();
    await check('post', () => page.getByRole('heading', { name: 'Replies' }).waitFor());
    await postCard(page, 'Narwhal pods sing').getByRole('link', { name: 'Cleo' }).click();
    await check('profile', () => page.getByRole('heading', { name: 'Cleo', level: 1 }).waitFor());
    await nav(page, 'Explore');
    await check('explore', () => postCard(page, 'Narwhal pods sing').waitFor());
    await nav(page, 'Search');
    await page.getByLabel('Search posts or people').fill('narwhal');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await check('search', () => postCard(page, 'Narwhal pods sing').waitFor());
    await nav(page, 'Trending');
    await check('trending', () => page.getByRole('link', { name: '#narwhal' }).waitFor());
    await page.getByRole('link', { name: '#narwhal' }).click();
    await check('topic', () => postCard(page, 'Narwhal pods sing').waitFor());
    await nav(page, 'Settings');
    await check('settings', () => page.getByRole('heading', { name: 'Account backup' }).waitFor());
    assert.deepEqual(problems, []);

    // Keyboard: on a fresh load the skip link is the first stop and moves focus to the content.
    await page.goto(one.url);
    await postCard(page, 'Accessible posts for everyone').waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'compose-text', 'the composer comes next');
    await context.close();
});

test('explore and search page through more posts than one answer holds; explore recommends people', { skip }, async () => {
    const home = tempHome();
    await agora(home, 'init', '--name', 'Lou');
    await agora(home, 'server', 'add', one.url);
    for (let i = 1; i <= 35; i++) await agora(home, 'post', `Lou counts ${i}`);
    const max = await person(one.url, 'Max');
    await nav(max.page, 'Explore');
    await postCard(max.page, 'Lou counts 35').waitFor();
    assert.equal(await max.page.getByText('Lou counts 1', { exact: true }).count(), 0, 'the first post is on a later page');
    await max.page.getByRole('button', { name: 'Show more posts' }).click();
    await max.page.getByText('Lou counts 1', { exact: true }).waitFor();
    await max.page.getByRole('heading', { name: 'People to follow' }).waitFor();
    // The server picks whom it recommends; each is shown with the servers that recommended them.
    await max.page.locator('.people li').first().getByText(`recommended by: ${one.url}`).waitFor();

    // Search pages the same way: 20 results per answer, then the rest.
    await nav(max.page, 'Search');
    await max.page.getByLabel('Search posts or people').fill('counts');
    await max.page.getByRole('button', { name: 'Search', exact: true }).click();
    const found = max.page.locator('article.post').filter({ hasText: /Lou counts \d+/ });
    await until('a first page of 20', async () => (await found.count()) === 20);
    await max.page.getByRole('button', { name: 'Show more results' }).click();
    await until('all 35', async () => (await found.count()) === 35);
    await max.context.close();
});
