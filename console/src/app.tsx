import { ErrorBoundary, LocationProvider, Route, Router, useLocation } from "preact-iso";
import { session, useUser, type User } from "./auth";
import { AREAS, ALL_ROUTES } from "./routes";
import { visible, type RouteDef } from "./route-def";
import { Login } from "./pages/Login";
import { Home } from "./pages/Home";
import { Page } from "./ui/page";

function Nav({ user }: { user: User }) {
  const { path } = useLocation();
  return (
    <nav aria-label="Main" class="main-nav">
      <ul>
        <li>
          <a href="/" aria-current={path === "/" ? "page" : undefined}>Home</a>
        </li>
        {AREAS.map((area) => {
          const links = area.routes.filter((r) => r.nav && visible(r, user));
          if (links.length === 0) return null;
          return (
            <li key={area.name}>
              <details class="dropdown">
                <summary>{area.name}</summary>
                <ul>
                  {links.map((r) => (
                    <li key={r.path}>
                      <a href={r.path} aria-current={path === r.path ? "page" : undefined}>{r.title}</a>
                    </li>
                  ))}
                </ul>
              </details>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

function Forbidden() {
  return (
    <Page title="Not for this account">
      <p>Your account does not have a role that uses this page. <a href="/">Back to your home page</a>.</p>
    </Page>
  );
}

function NotFound() {
  return (
    <Page title="Page not found">
      <p>There is no page at this address. <a href="/">Back to your home page</a>.</p>
    </Page>
  );
}

function Guard({ route, user, ...props }: { route: RouteDef; user: User } & Record<string, unknown>) {
  if (!visible(route, user)) return <Forbidden />;
  const C = route.component;
  return <C {...props} />;
}

function Shell({ user }: { user: User }) {
  return (
    <>
      <a class="skip-link" href="#main">Skip to content</a>
      <header class="topbar container-fluid">
        <a href="/" class="brand">LearnFlow</a>
        <Nav user={user} />
        <div class="who">
          <span>{user.name} <small class="muted">({user.roles.join(", ")})</small></span>
          <button class="outline secondary" onClick={() => { session.logout(); location.assign("/"); }}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" class="container">
        <ErrorBoundary>
          <Router>
            <Route path="/" component={() => <Home user={user} />} />
            {ALL_ROUTES.map((r) => (
              <Route key={r.path} path={r.path} component={(props: Record<string, unknown>) => <Guard route={r} user={user} {...props} />} />
            ))}
            <Route default component={NotFound} />
          </Router>
        </ErrorBoundary>
      </main>
    </>
  );
}

export function App() {
  const user = useUser();
  return (
    <LocationProvider>
      {user ? <Shell user={user} /> : <main id="main" class="container narrow"><Login /></main>}
    </LocationProvider>
  );
}
