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
    FirmwareStatusNotification: () => ({}),
    LogStatusNotification: () => ({}),
    NotifyDisplayMessages: () => ({}),
    NotifyMonitoringReport: () => ({}),
    NotifyCustomerInformation: () => ({}),
    ReportChargingProfiles: () => ({}),
    ReservationStatusUpdate: () => ({}),
    SignCertificate: () => ({ status: "Accepted" }),
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
    await command("RequestStartTransaction", { idToken: { idToken: "PEER-TAG", type: "Central" }, remoteStartId: 77,
      evseId: 1 }, (r) => r.status === "Accepted");
    const started = await calls.until((c) => c.method === "TransactionEvent" && c.params.eventType === "Started");
    await calls.until((c) => c.method === "TransactionEvent" && c.params.eventType === "Updated");
    await command("RequestStopTransaction", { transactionId: started.params.transactionInfo.transactionId },
      (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "TransactionEvent" && c.params.eventType === "Ended");
    await command("TriggerMessage", { requestedMessage: "StatusNotification", evse: { id: 1, connectorId: 1 } },
      (r) => r.status === "Accepted");
    await command("UnlockConnector", { evseId: 1, connectorId: 1 }, (r) => r.status === "Unlocked");
    await upkeep();
    say({ done: true });
  }

  // the station's upkeep and back-office actions, each answer and each notification that follows
  // checked against ocpp-rpc's schemas; the firmware update last (it reboots the station)
  async function upkeep() {
    const later = new Date(Date.now() + 3600e3).toISOString();
    const cert = "-----BEGIN CERTIFICATE-----\nMIIBpeer\n-----END CERTIFICATE-----";
    await command("ReserveNow", { id: 5, expiryDateTime: later, idToken: { idToken: "R", type: "Central" }, evseId: 2 },
      (r) => r.status === "Accepted");
    await command("CancelReservation", { reservationId: 5 }, (r) => r.status === "Accepted");
    await command("SendLocalList", { versionNumber: 3, updateType: "Full", localAuthorizationList: [
      { idToken: { idToken: "L1", type: "ISO14443" }, idTokenInfo: { status: "Accepted" } }] },
    (r) => r.status === "Accepted");
    await command("GetLocalListVersion", {}, (r) => r.versionNumber === 3);
    await command("SetChargingProfile", { evseId: 1, chargingProfile: { id: 9, stackLevel: 1,
      chargingProfilePurpose: "TxDefaultProfile", chargingProfileKind: "Absolute", chargingSchedule: [{ id: 1,
        startSchedule: now(), chargingRateUnit: "W", chargingSchedulePeriod: [{ startPeriod: 0, limit: 3000 }] }] } },
    (r) => r.status === "Accepted");
    await command("GetChargingProfiles", { requestId: 4, chargingProfile: { chargingProfilePurpose: "TxDefaultProfile" } },
      (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "ReportChargingProfiles" && c.params.requestId === 4);
    await command("GetCompositeSchedule", { evseId: 1, duration: 600 }, (r) => r.status === "Accepted");
    await command("ClearChargingProfile", { chargingProfileId: 9 }, (r) => r.status === "Accepted");
    await command("InstallCertificate", { certificateType: "CSMSRootCertificate", certificate: cert },
      (r) => r.status === "Accepted");
    await command("GetInstalledCertificateIds", {}, (r) => r.status === "Accepted");
    await command("CertificateSigned", { certificateChain: cert }, (r) => r.status === "Accepted");
    await command("TriggerMessage", { requestedMessage: "SignChargingStationCertificate" }, (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "SignCertificate");
    await command("SetDisplayMessage", { message: { id: 1, priority: "NormalCycle",
      message: { format: "UTF8", content: "hello" } } }, (r) => r.status === "Accepted");
    await command("GetDisplayMessages", { requestId: 6 }, (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "NotifyDisplayMessages");
    await command("ClearDisplayMessage", { id: 1 }, (r) => r.status === "Accepted");
    await command("SetVariableMonitoring", { setMonitoringData: [{ value: 10, type: "UpperThreshold", severity: 5,
      component: { name: "OCPPCommCtrlr" }, variable: { name: "HeartbeatInterval" } }] },
    (r) => r.setMonitoringResult[0].status === "Accepted");
    await command("GetMonitoringReport", { requestId: 7 }, (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "NotifyMonitoringReport");
    await command("SetMonitoringLevel", { severity: 4 }, (r) => r.status === "Accepted");
    await command("ClearVariableMonitoring", { id: [1] }, (r) => r.clearMonitoringResult[0].status === "Accepted");
    await command("CustomerInformation", { requestId: 8, report: true, clear: false,
      idToken: { idToken: "PEER-TAG", type: "Central" } }, (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "NotifyCustomerInformation");
    await command("CostUpdated", { totalCost: 1.5, transactionId: "x" }, () => true);
    await command("ClearCache", {}, (r) => r.status === "Accepted");
    await command("GetLog", { requestId: 10, logType: "DiagnosticsLog", log: { remoteLocation: "https://l.example/" } },
      (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "LogStatusNotification" && c.params.status === "Uploaded");
    await command("TriggerMessage", { requestedMessage: "FirmwareStatusNotification" }, (r) => r.status === "Accepted");
    await calls.until((c) => c.method === "FirmwareStatusNotification");
    await command("UpdateFirmware", { requestId: 11, firmware: { location: "https://fw.example/x", retrieveDateTime: now() } },
      (r) => r.status === "Accepted");
    await everyCall.until((c) => c.method === "FirmwareStatusNotification" && c.params.status === "Installed");
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
    await command("RequestStartTransaction", { idToken: { idToken: "PEER-TAG", type: "Central" }, remoteStartId: 77,
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
