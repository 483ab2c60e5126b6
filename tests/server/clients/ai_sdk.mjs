// Calls the gateway with the Vercel AI SDK's generateImage, as an application would, and
// prints what it got.
//
// stdin: {"baseURL": ".../v1", "apiKey": "...", "calls": [call, ...]}, each call
//   {"provider": "openai" | "openai-compatible", "model": "auto", "prompt": "...",
//    "images": [base64 PNG, ...] (an edit), "mask": base64 PNG, "n": 1, "size": "1024x1024",
//    "maxImagesPerCall": null, "providerOptions": {...}, "maxRetries": 0}
// "openai" is @ai-sdk/openai's createOpenAI; "openai-compatible" is
// @ai-sdk/openai-compatible's createOpenAICompatible named "imagegate", whose
// providerOptions.imagegate fields ride in the request as they are.
// stdout: one answer per call, in order: {"ok": true, "images": [base64, ...],
//   "mediaTypes": [...], "usage": {...}, "calls": <HTTP calls made>, "providerMetadata": {...}}
//   or {"ok": false, "error": {...}} (see describe).
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { APICallError, RetryError, generateImage } from "ai";
import { text } from "node:stream/consumers";

const spec = JSON.parse(await text(process.stdin));
const settings = { baseURL: spec.baseURL, apiKey: spec.apiKey };
const providers = {
  openai: createOpenAI(settings),
  "openai-compatible": createOpenAICompatible({ ...settings, name: "imagegate" }),
};

/** The SDK's error as data; a RetryError (retries exhausted) is described by its last error. */
function describe(error) {
  const attempts = RetryError.isInstance(error) ? error.errors.length : 1;
  const last = RetryError.isInstance(error) ? error.lastError : error;
  return {
    class: last.name,
    isAPICallError: APICallError.isInstance(last),
    status: last.statusCode ?? null,
    message: last.message,
    isRetryable: last.isRetryable ?? null,
    body: last.data ?? null,
    attempts,
  };
}

async function call(one) {
  const prompt =
    one.images === undefined
      ? one.prompt
      : { text: one.prompt, images: one.images, ...(one.mask ? { mask: one.mask } : {}) };
  const result = await generateImage({
    model: providers[one.provider ?? "openai"].imageModel(one.model ?? "auto"),
    prompt,
    n: one.n ?? 1,
    size: one.size,
    maxImagesPerCall: one.maxImagesPerCall ?? undefined,
    providerOptions: one.providerOptions ?? {},
    maxRetries: one.maxRetries ?? 0,
  });
  return {
    ok: true,
    images: result.images.map((image) => image.base64),
    mediaTypes: result.images.map((image) => image.mediaType),
    usage: result.usage,
    calls: result.responses.length,
    providerMetadata: result.providerMetadata,
  };
}

const answers = [];
for (const one of spec.calls) {
  try {
    answers.push(await call(one));
  } catch (error) {
    answers.push({ ok: false, error: describe(error) });
  }
}
process.stdout.write(JSON.stringify(answers));
