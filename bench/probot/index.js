// A minimal Probot app doing per delivery what tfpilot does for a
// state-changing workflow_run: verify the signature and parse (Probot's
// webhook middleware), one store write (a JSON file), one comment call
// (POST /repos/{owner}/{repo}/issues/{n}/comments on the simulator, with the
// installation token Probot gets and caches itself). Deliveries of workflows
// that are not tfpilot's, and comments without a `/tfpilot` line, are
// answered without any of that, as tfpilot does.
//
// Environment: PORT, APP_ID, PRIVATE_KEY (PEM), WEBHOOK_SECRET,
// GITHUB_API_URL (the simulator), STORE_DIR, LOG_LEVEL, PROBOT_THROTTLE.
import { createServer } from "node:http";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Probot, ProbotOctokit, createNodeMiddleware } from "probot";

const storeDir = process.env.STORE_DIR ?? ".";

// A comment addresses tfpilot when one of its lines starts with `/tfpilot`.
const addressesTfpilot = (body) =>
  (body ?? "").split("\n").some((line) => /^\/tfpilot(\s|$)/.test(line.trim()));

const app = (probot) => {
  probot.on("issue_comment.created", async (context) => {
    const comment = context.payload.comment;
    if (!addressesTfpilot(comment.body)) {
      return;
    }
    // A command: one store write and one reply, as for a state change.
    const facts = { issue: context.payload.issue.number, comment: comment.id, delivery: context.id };
    await writeFile(join(storeDir, `comment-${comment.id}.json`), JSON.stringify(facts));
    await context.octokit.rest.issues.createComment(
      context.issue({ body: `seen ${comment.id}` }),
    );
  });
  probot.on("workflow_run", async (context) => {
    const run = context.payload.workflow_run;
    if (!run.name || !run.name.startsWith("tfpilot ")) {
      return;
    }
    const requestId = (run.head_branch ?? "").replace(/^request\//, "");
    const facts = {
      request: requestId,
      run: run.id,
      status: run.status,
      conclusion: run.conclusion,
      updated_at: run.updated_at,
      delivery: context.id,
    };
    await writeFile(join(storeDir, `${requestId}.json`), JSON.stringify(facts));
    const pr = (run.pull_requests ?? [])[0];
    if (pr) {
      await context.octokit.rest.issues.createComment(
        context.repo({ issue_number: pr.number, body: `plan run ${run.id}: ${run.status}` }),
      );
    }
  });
};

// Probot's throttling plugin paces content-creating calls (at least 1 s apart,
// 3 s for calls that notify, as GitHub asks of integrations). tfpilot does not,
// so for a comparison of the software it is off; PROBOT_THROTTLE=1 keeps it.
const Octokit =
  process.env.PROBOT_THROTTLE === "1"
    ? ProbotOctokit
    : // A function, so it applies to every instance after Probot's own defaults.
      ProbotOctokit.defaults((options) => ({
        ...options,
        throttle: { ...options?.throttle, enabled: false },
      }));

const probot = new Probot({
  Octokit,
  appId: process.env.APP_ID,
  privateKey: process.env.PRIVATE_KEY,
  secret: process.env.WEBHOOK_SECRET,
  baseUrl: process.env.GITHUB_API_URL,
  logLevel: process.env.LOG_LEVEL ?? "warn",
});

const middleware = await createNodeMiddleware(app, { probot });
const server = createServer((req, res) => {
  middleware(req, res, () => {
    res.writeHead(404);
    res.end();
  });
});
server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1");
