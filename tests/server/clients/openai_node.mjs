// Calls the gateway with openai-node, as an application would, and prints what it got.
//
// stdin: {"baseURL": ".../v1", "apiKey": "...", "calls": [call, ...]}, each call
//   {"op": "generate" | "edit", "params": {...}, "images": [base64 PNG, ...],
//    "mask": base64 PNG | null, "maxRetries": 0}
// stdout: one answer per call, in order: {"ok": true, "body": <the parsed response>,
//   "requestId": <x-request-id or null>} or {"ok": false, "error": {...}} (see describe).
//   With params.stream the body is {"events": [...]}: each event's type, partial_image_index,
//   size, usage and decoded b64_json length, as the SDK's stream yielded them.
import OpenAI, { toFile } from "openai";
import { text } from "node:stream/consumers";

const spec = JSON.parse(await text(process.stdin));

/** The client's error as data: its class and what it parsed from the OpenAI error body. */
function describe(error) {
  return {
    class: error.constructor.name,
    isAPIError: error instanceof OpenAI.APIError,
    status: error.status ?? null,
    message: error.message,
    type: error.type ?? null,
    code: error.code ?? null,
    param: error.param ?? null,
  };
}

/** The body of an edit: the params with the images and mask as files. */
async function editBody({ params, images = [], mask = null }) {
  const png = (b64, name) => toFile(Buffer.from(b64, "base64"), name, { type: "image/png" });
  const files = await Promise.all(images.map((b64, i) => png(b64, `image-${i}.png`)));
  const body = { ...params, image: files.length === 1 ? files[0] : files };
  if (mask !== null) {
    body.mask = await png(mask, "mask.png");
  }
  return body;
}

async function call(one) {
  const client = new OpenAI({
    baseURL: spec.baseURL,
    apiKey: spec.apiKey,
    maxRetries: one.maxRetries ?? 0,
  });
  // The SDK's own promise (not one an async function wraps it in), for `withResponse`.
  const request =
    one.op === "generate"
      ? client.images.generate(one.params)
      : client.images.edit(await editBody(one));
  if (!one.params.stream) {
    return request.withResponse();
  }
  const events = [];
  for await (const event of await request) {
    events.push({
      type: event.type,
      partial_image_index: event.partial_image_index ?? null,
      size: event.size ?? null,
      usage: event.usage ?? null,
      bytes: Buffer.from(event.b64_json ?? "", "base64").length,
    });
  }
  return { data: { events }, request_id: null };
}

const answers = [];
for (const one of spec.calls) {
  try {
    const { data, request_id } = await call(one);
    answers.push({ ok: true, body: data, requestId: request_id });
  } catch (error) {
    answers.push({ ok: false, error: describe(error) });
  }
}
process.stdout.write(JSON.stringify(answers));
