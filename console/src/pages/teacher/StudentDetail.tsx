// One of the teacher's students: progress over time (charts and tables), their struggle alerts with
// the same actions as the alerts page, and the interventions decided for them.
import { useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import type { components } from "../../api/schema";
import { Page } from "../../ui/page";
import { ProgressView } from "../student/ProgressView";
import { AlertList } from "./Alerts";
import { DecisionList } from "./Interventions";
import { StudentName } from "./people";
import "../student/learn.css";

type AlertState = components["schemas"]["learnflow.progress.v1.AlertState"];

export default function StudentDetail() {
  const { params } = useRoute();
  const studentId = params.studentId ?? "";
  const [state, setState] = useState<AlertState>("ALERT_STATE_UNSPECIFIED");
  return (
    <Page title="Student progress">
      <p>
        <strong>
          <StudentName id={studentId} />
        </strong>{" "}
        · <a href="/teach/classes">My classes</a>
      </p>
      <ProgressView studentId={studentId} />
      <h2>Struggle alerts</h2>
      <label class="page-size">
        Status
        <select value={state} onChange={(e) => setState(e.currentTarget.value as AlertState)}>
          <option value="ALERT_STATE_UNSPECIFIED">Open and acknowledged</option>
          <option value="ALERT_STATE_RESOLVED">Resolved</option>
        </select>
      </label>
      <AlertList studentId={studentId} state={state} />
      <h2>Interventions</h2>
      <DecisionList studentId={studentId} />
    </Page>
  );
}
