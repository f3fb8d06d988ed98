// The student's own progress: mastery per topic, streak and recent activity with charts.
import { Page } from "../../ui/page";
import { ProgressView } from "./ProgressView";
import "./learn.css";

export default function Progress() {
  return (
    <Page title="My progress">
      <ProgressView studentId="me" />
    </Page>
  );
}
