// The official OpenAI Node SDK (package.json pins it) against `ivl serve`, as a client
// developer uses it: models, chat completions whole and streamed, stop, logprobs, plain
// completions, errors as the SDK's typed exceptions with status, param and code, the API key,
// and an aborted stream. Arguments: the open server's base URL, the keyed server's base URL
// (key "s3cret"), and `ivl run`'s answer to QUESTION with 12 tokens.
import OpenAI from 'openai';

const [base, keyedBase, runAnswer] = process.argv.slice(2);
const QUESTION = 'Hello! Who are you?';
const client = new OpenAI({ baseURL: base, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
const user = (content) => [{ role: 'user', content }];
let failed = false;

function check(cond, what) {
  if (!cond) {
    console.log('FAIL: ' + what);
    failed = true;
  } else {
    console.log('ok - ' + what);
  }
}

async function refused(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return e;
  }
}

async function streamText(stream) {
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta ? c.delta.content ?? '' : c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, finish, usage };
}

async function main() {
  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].id === 'tiny', 'models.list(): tiny');
  check((await client.models.retrieve('tiny')).id === 'tiny', 'models.retrieve("tiny")');
  let e = await refused(client.models.retrieve('gpt-4o'));
  check(e instanceof OpenAI.NotFoundError && e.code === 'model_not_found',
    'models.retrieve("gpt-4o"): NotFoundError, code model_not_found');

  const whole = await client.chat.completions.create({
    model: 'tiny', messages: user(QUESTION), max_tokens: 12 });
  const answer = whole.choices[0].message.content;
  check(answer === runAnswer && whole.choices[0].finish_reason === 'length' &&
    whole.usage.completion_tokens === 12,
    'chat.completions.create: ivl run\'s answer, finish_reason length, usage');
  const streamed = await streamText(await client.chat.completions.create({
    model: 'tiny', messages: user(QUESTION), max_tokens: 12, stream: true,
    stream_options: { include_usage: true } }));
  check(streamed.text === answer && streamed.finish === 'length' &&
    streamed.usage.completion_tokens === 12,
    'streamed: the same text, finish_reason length, the usage chunk');

  const stop = answer.slice(3, 6);
  const cut = answer.slice(0, answer.indexOf(stop)).trimEnd();
  const stopped = await client.chat.completions.create({
    model: 'tiny', messages: user(QUESTION), max_tokens: 12, stop: [stop] });
  check(stopped.choices[0].message.content === cut &&
    stopped.choices[0].finish_reason === 'stop', `stop ${JSON.stringify(stop)} cuts the answer`);
  const stoppedStream = await streamText(await client.chat.completions.create({
    model: 'tiny', messages: user(QUESTION), max_tokens: 12, stop, stream: true }));
  check(stoppedStream.text === cut && stoppedStream.finish === 'stop', 'streamed, too');

  const lp = await client.chat.completions.create({
    model: 'tiny', messages: user(QUESTION), max_tokens: 3, logprobs: true, top_logprobs: 2 });
  const content = lp.choices[0].logprobs.content;
  check(content.length === 3 && content.every((c) => c.top_logprobs.length === 2 &&
    c.logprob <= 0 && Array.isArray(c.bytes)), 'logprobs with top_logprobs 2');

  const completion = await client.completions.create({
    model: 'tiny', prompt: 'Once upon a time', max_tokens: 8 });
  const streamedCompletion = await streamText(await client.completions.create({
    model: 'tiny', prompt: 'Once upon a time', max_tokens: 8, stream: true }));
  check(completion.object === 'text_completion' && completion.choices[0].finish_reason ===
    'length' && streamedCompletion.text === completion.choices[0].text,
    'completions.create, whole and streamed');

  e = await refused(client.chat.completions.create({
    model: 'tiny', messages: user('hi'), n: 2 }));
  check(e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'n',
    'n: 2 -> BadRequestError naming the param');
  e = await refused(client.chat.completions.create({
    model: 'tiny', messages: user('hi'),
    tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }));
  check(e instanceof OpenAI.BadRequestError && e.param === 'tools' &&
    /tools are not supported/.test(e.message), 'tools -> BadRequestError: ' + e?.message);
  e = await refused(client.chat.completions.create({
    model: 'tiny', stream: true, messages: user([
      { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }]) }));
  check(e instanceof OpenAI.BadRequestError && /not an image/.test(e.message),
    'a streamed request with a bad image throws BadRequestError, not a broken stream');
  e = await refused(client.chat.completions.create({ model: 'gpt-4o', messages: user('hi') }));
  check(e instanceof OpenAI.NotFoundError && e.code === 'model_not_found',
    'another model: NotFoundError model_not_found');

  const wrong = new OpenAI({ baseURL: keyedBase, apiKey: 'wrong', maxRetries: 0 });
  e = await refused(wrong.models.list());
  check(e instanceof OpenAI.AuthenticationError && e.code === 'invalid_api_key',
    'a wrong API key: AuthenticationError invalid_api_key');
  const keyed = new OpenAI({ baseURL: keyedBase, apiKey: 's3cret', maxRetries: 0 });
  check((await keyed.models.list()).data[0].id === 'tiny', 'the right API key is accepted');

  // an aborted stream stops the generation: the next answer comes at once
  const controller = new AbortController();
  const long = await client.chat.completions.create({
    model: 'tiny', messages: user(QUESTION), max_tokens: 8000, stream: true },
  { signal: controller.signal });
  e = await refused((async () => {
    for await (const chunk of long) {
      if (chunk.choices[0]?.delta?.content) controller.abort();
    }
  })());
  const t0 = Date.now();
  await client.chat.completions.create({ model: 'tiny', messages: user('hi'), max_tokens: 2 });
  // (the SDK's stream ends quietly on its own abort)
  check(controller.signal.aborted && (!e || e instanceof OpenAI.APIUserAbortError) &&
    Date.now() - t0 < 5000,
    `an aborted stream stops the server's work (next answer in ${Date.now() - t0} ms; ` +
    'generating its 8000 tokens takes about 25 s)');
}

main().then(() => process.exit(failed ? 1 : 0), (err) => {
  console.log('FAIL: ' + (err.stack || err));
  process.exit(1);
});
