// A central system no one here wrote: npm ocpp-rpc's RPCServer in strict mode (OCPP 2.0.1), which
// validates every frame both ways against its own copy of the schemas: a request of the station's
// that breaks them is refused with a CALLERROR, an answer that breaks them fails our call.
//
//   node tests/peers/csms.mjs [station|bay]
//
// It listens on an ephemeral port of 127.0.0.1 and prints {"listening": port}; a station that
// connects (ws://127.0.0.1:<port>/<identity>, subprotocol ocpp2.0.1) and boots is then driven
// through a script of commands (the device model, a remote session, a trigger), each printed as
// {"command", "ok", "result"}; every call of the station's is printed as {"received", "params"};
// {"done": true} ends the script. It ends when its stdin closes, printing {"strictFailures": [...]}.
// The script is a simulated station's (default) or a locker bay's ("bay": the bay's few variables,
// a session on a bay with a device inside, the door opened through DataTransfer).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { RPCServer } = require("ocpp-rpc");

const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const failures = [];
const now = () => new Date().toISOString();
const server = new RPCServer({ protocols: ["ocpp2.0.1"], strictMode: true });

function waiter() {
  const seen = [];
  const pending = [];
  return {
    push(item) {
      seen.push(item);
      for (const p of pending.splice(0)) if (!p.test(item)) pending.push(p); else p.resolve(item);
    },
    until(test, ms = 15000) {
      const found = seen.find(test);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        pending.push({ test, resolve });
        setTimeout(() => reject(new Error("timed out waiting")), ms);
      });
    },
  };
}

const everyCall = waiter(); // the calls of every connection: a reset reconnects
let scripted = false; // the script drives the first connection only

server.on("client", (client) => {
  client.on("strictValidationFailure", (event) => failures.push(String(event.error && event.error.message)));
  const calls = waiter();
  const answers = {
    BootNotification: () => ({ currentTime: now(), interval: 300, status: "Accepted" }),
    Heartbeat: () => ({ currentTime: now() }),
    StatusNotification: () => ({}),
    Authorize: () => ({ idTokenInfo: { status: "Accepted" } }),
    TransactionEvent: ({ params }) => (params.idToken ? { idTokenInfo: { status: "Accepted" } } : {}),
    MeterValues: () => ({}),
    NotifyReport: () => ({}),
    NotifyEvent: () => ({}),
    SecurityEventNotification: () => ({}),
    DataTransfer: () => ({ status: "UnknownVendorId" }),
  };
  for (const [method, answer] of Object.entries(answers)) {
    client.handle(method, (call) => {
      say({ received: method, params: call.params });
      calls.push({ method, params: call.params });
      everyCall.push({ method, params: call.params });
      return answer(call);
    });
  }

  async function command(method, params, check = () => true) {
    try {
      const result = await client.call(method, params);
      say({ command: method, ok: Boolean(check(result)), result });
      return result;
    } catch (err) {
      say({ command: method, ok: false, error: `${err.name}: ${err.message}` });
      return null;
    }
  }

  async function script() {
    await calls.until((c) => c.method === "BootNotification");
    await new Promise((resolve) => setTimeout(resolve, 200));
    await command("GetBaseReport", { requestId: 1, reportBase: "FullInventory" }, (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "NotifyReport" && c.params.requestId === 1 && !c.params.tbc);
    await command("GetVariables", { getVariableData: [
      { component: { name: "OCPPCommCtrlr" }, variable: { name: "HeartbeatInterval" } },
      { component: { name: "NoSuchCtrlr" }, variable: { name: "Enabled" } }] },
    (r) => r.getVariableResult[0].attributeValue === "300" && r.getVariableResult[1].attributeStatus === "UnknownComponent");
    await command("SetVariables", { setVariableData: [
      { component: { name: "SampledDataCtrlr" }, variable: { name: "TxUpdatedInterval" }, attributeValue: "1" },
      { component: { name: "SecurityCtrlr" }, variable: { name: "Identity" }, attributeValue: "x" }] },
    (r) => r.setVariableResult[0].attributeStatus === "Accepted" && r.setVariableResult[1].attributeStatus === "Rejected");
    await command("RequestStartTransaction", { idToken: { idToken: "PEER-TAG", type: "ISO14443" }, remoteStartId: 77,
      evseId: 1 }, (r) => r.status === "Accepted");
    const started = await calls.until((c) => c.method === "TransactionEvent" && c.params.eventType === "Started");
    await calls.until((c) => c.method === "TransactionEvent" && c.params.eventType === "Updated");
    await command("RequestStopTransaction", { transactionId: started.params.transactionInfo.transactionId },
      (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "TransactionEvent" && c.params.eventType === "Ended");
    await command("TriggerMessage", { requestedMessage: "StatusNotification", evse: { id: 1, connectorId: 1 } },
      (r) => r.status === "Accepted");
    await command("UnlockConnector", { evseId: 1, connectorId: 1 }, (r) => r.status === "Unlocked");
    say({ done: true });
  }
  if (!scripted) {
    scripted = true;
    (process.argv[2] === "bay" ? bayScript : script)().catch((err) => say({ done: true, error: String(err) }));
  }

  async function bayScript() {
    await calls.until((c) => c.method === "BootNotification");
    await calls.until((c) => c.method === "StatusNotification");
    await command("GetBaseReport", { requestId: 1, reportBase: "FullInventory" }, (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "NotifyReport" && c.params.requestId === 1 && !c.params.tbc);
    await command("GetVariables", { getVariableData: [
      { component: { name: "OCPPCommCtrlr" }, variable: { name: "HeartbeatInterval" } },
      { component: { name: "Door", evse: { id: 1 } }, variable: { name: "Open" } },
      { component: { name: "NoSuchCtrlr" }, variable: { name: "Enabled" } }] },
    (r) => r.getVariableResult[0].attributeValue === "300" && r.getVariableResult[1].attributeValue === "false"
      && r.getVariableResult[2].attributeStatus === "UnknownComponent");
    await command("SetVariables", { setVariableData: [
      { component: { name: "SampledDataCtrlr" }, variable: { name: "TxUpdatedInterval" }, attributeValue: "1" },
      { component: { name: "EVSE", evse: { id: 1 } }, variable: { name: "AvailabilityState" }, attributeValue: "x" }] },
    (r) => r.setVariableResult[0].attributeStatus === "Accepted" && r.setVariableResult[1].attributeStatus === "Rejected");
    await command("RequestStartTransaction", { idToken: { idToken: "PEER-TAG", type: "ISO14443" }, remoteStartId: 77,
      evseId: 1 }, (r) => r.status === "Accepted");
    const started = await calls.until((c) => c.method === "TransactionEvent" && c.params.eventType === "Started");
    await calls.until((c) => c.method === "TransactionEvent" && c.params.eventType === "Updated");
    await command("UnlockConnector", { evseId: 1, connectorId: 1 }, (r) => r.status === "OngoingAuthorizedTransaction");
    await command("RequestStopTransaction", { transactionId: started.params.transactionInfo.transactionId },
      (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "TransactionEvent" && c.params.eventType === "Ended");
    await command("TriggerMessage", { requestedMessage: "StatusNotification", evse: { id: 1, connectorId: 1 } },
      (r) => r.status === "Accepted");
    await command("DataTransfer", { vendorId: "chargebay", messageId: "OpenLocker" },
      (r) => r.status === "Accepted" && JSON.parse(r.data).door === "open");
    await calls.until((c) => c.method === "NotifyEvent" && c.params.eventData.some(
      (e) => e.component.name === "Door" && e.actualValue === "true"));
    await command("Reset", { type: "OnIdle" }, (r) => r.status === "Accepted");
    await everyCall.until((c) => c.method === "BootNotification" && c.params.reason === "RemoteReset");
    say({ done: true });
  }
});

const http = await server.listen(0, "127.0.0.1");
say({ listening: http.address().port });
process.stdin.resume();
process.stdin.on("end", async () => {
  say({ strictFailures: failures });
  await server.close({ force: true });
  process.exit(0);
});
