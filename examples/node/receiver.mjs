// A webhook endpoint that checks each delivery's cobalt-verification signature.
// Node 18 or later; no packages. PORT=0 picks a free port.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const secret = process.env.COBALT_WEBHOOK_SECRET ?? "whsec_cobalt_mock_0123456789abcdef";
const sign = (text) => createHmac("sha256", secret).update(text).digest("hex");
const same = (a, b) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

const server = createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const raw = Buffer.concat(chunks);
    const signature = request.headers["cobalt-verification"] ?? "";
    const event = JSON.parse(raw);
    // Over the raw bytes, and the way Cobalt's own sample checks it (JSON.stringify of the parsed
    // body): the fake sends compact JSON, so the two agree.
    const valid = same(sign(raw), signature) && same(sign(JSON.stringify(event)), signature);
    console.log(`${event.job_id}: signature ${valid ? "valid" : "INVALID"}, ${event.data.appointment_count} appointments`);
    response.writeHead(valid ? 200 : 401).end();
  });
});
server.listen(Number(process.env.PORT ?? 9000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/webhooks/cobalt`);
});
