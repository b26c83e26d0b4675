import { ortReady } from "./ort-runtime.ts";

await ortReady();

export default {
  async fetch(): Promise<Response> {
    return new Response("ok");
  },
};
