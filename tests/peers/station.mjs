// A charging station no one here wrote: npm ocpp-rpc in strict mode, which validates every frame
// both ways against its own copy of the OCPP schemas (a request of ours that breaks them is refused
// with a CALLERROR before its handler runs; an answer of ours that breaks them fails the call).
//
//   node tests/peers/station.mjs <ws endpoint> <identity> <ocpp1.6|ocpp2.0.1>
//
// It connects, plays a short session, prints one JSON line per step ({"step", "ok", ...}), then
// {"ready": true}, answers the central system's calls (each printed as {"handled": method}),
// and ends when its stdin closes, printing {"strictFailures": [...]} last.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { RPCClient } = require("ocpp-rpc");

const [endpoint, identity, protocol] = process.argv.slice(2);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const failures = [];
const now = () => new Date().toISOString();

const cli = new RPCClient({ endpoint, identity, protocols: [protocol], strictMode: true, reconnect: false });
cli.on("strictValidationFailure", (event) => failures.push(String(event.error && event.error.message)));

const answers = protocol === "ocpp2.0.1" ? {
  Reset: () => ({ status: "Accepted" }),
  RequestStartTransaction: ({ params }) => ({ status: "Accepted", transactionId: `TX-${params.remoteStartId}` }),
  GetVariables: ({ params }) => ({
    getVariableResult: params.getVariableData.map((d) => ({
      attributeStatus: "Accepted", attributeValue: "300", component: d.component, variable: d.variable })),
  }),
  TriggerMessage: () => ({ status: "Accepted" }),
} : {
  Reset: () => ({ status: "Accepted" }),
  RemoteStartTransaction: () => ({ status: "Accepted" }),
  GetConfiguration: () => ({ configurationKey: [{ key: "HeartbeatInterval", readonly: false, value: "300" }] }),
  TriggerMessage: () => ({ status: "Accepted" }),
};
for (const [method, answer] of Object.entries(answers)) {
  cli.handle(method, (call) => { say({ handled: method, params: call.params }); return answer(call); });
}

async function step(name, method, params, check = () => true) {
  try {
    const result = await cli.call(method, params);
    say({ step: name, ok: Boolean(check(result)), result });
    return result;
  } catch (err) {
    say({ step: name, ok: false, error: `${err.name}: ${err.message}` });
    return null;
  }
}

async function session201() {
  await step("boot", "BootNotification", { chargingStation: { model: "Strict-201", vendorName: "ocpp-rpc" },
    reason: "PowerUp" }, (r) => r.status === "Accepted");
  await step("heartbeat", "Heartbeat", {}, (r) => Boolean(r.currentTime));
  await step("status", "StatusNotification", { timestamp: now(), connectorStatus: "Available", evseId: 1,
    connectorId: 1 });
  await step("authorize", "Authorize", { idToken: { idToken: "STRICT-TAG", type: "ISO14443" } },
    (r) => r.idTokenInfo.status === "Accepted");
  await step("transaction", "TransactionEvent", { eventType: "Started", timestamp: now(),
    triggerReason: "Authorized", seqNo: 0, transactionInfo: { transactionId: "STRICT-TX-1" },
    idToken: { idToken: "STRICT-TAG", type: "ISO14443" }, evse: { id: 1, connectorId: 1 } },
  (r) => r.idTokenInfo.status === "Accepted");
  await step("meter", "MeterValues", { evseId: 1, meterValue: [{ timestamp: now(),
    sampledValue: [{ value: 1234.5, measurand: "Energy.Active.Import.Register" }] }] });
  await step("event", "NotifyEvent", { generatedAt: now(), seqNo: 0, eventData: [{ eventId: 1,
    timestamp: now(), trigger: "Delta", actualValue: "Available", eventNotificationType: "HardWiredNotification",
    component: { name: "Connector" }, variable: { name: "AvailabilityState" } }] });
  await step("security", "SecurityEventNotification", { type: "StartupOfTheDevice", timestamp: now() });
}

async function session16() {
  await step("boot", "BootNotification", { chargePointVendor: "ocpp-rpc", chargePointModel: "Strict-16" },
    (r) => r.status === "Accepted");
  await step("heartbeat", "Heartbeat", {}, (r) => Boolean(r.currentTime));
  await step("status", "StatusNotification", { connectorId: 1, errorCode: "NoError", status: "Available" });
  await step("authorize", "Authorize", { idTag: "STRICT-TAG" }, (r) => r.idTagInfo.status === "Accepted");
  const started = await step("start", "StartTransaction", { connectorId: 1, idTag: "STRICT-TAG", meterStart: 0,
    timestamp: now() }, (r) => r.transactionId > 0 && r.idTagInfo.status === "Accepted");
  await step("meter", "MeterValues", { connectorId: 1, transactionId: started && started.transactionId,
    meterValue: [{ timestamp: now(), sampledValue: [{ value: "1500" }] }] });
  await step("stop", "StopTransaction", { transactionId: started && started.transactionId, meterStop: 1500,
    timestamp: now(), reason: "Local" });
}

try {
  await cli.connect();
  say({ step: "connect", ok: cli.protocol === protocol, protocol: cli.protocol });
  await (protocol === "ocpp2.0.1" ? session201() : session16());
  say({ ready: true });
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on("end", resolve));
} catch (err) {
  say({ step: "connect", ok: false, error: `${err.name}: ${err.message}` });
}
say({ strictFailures: failures });
await cli.close({ force: true });
process.exit(0);
