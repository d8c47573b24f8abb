// The console's pages as URL paths (the API serves index.html for every non-/api path).

export type Route =
  | { readonly page: 'clients' }
  | { readonly page: 'client'; readonly endpoint: string }
  | { readonly page: 'server' }
  | { readonly page: 'security' }
  | { readonly page: 'bootstrap' }
  | { readonly page: 'firmware' }
  | { readonly page: 'campaign'; readonly id: string }
  | { readonly page: 'not-found'; readonly path: string };

export function parseRoute(pathname: string): Route {
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/clients') return { page: 'clients' };
  if (path === '/server') return { page: 'server' };
  if (path === '/security') return { page: 'security' };
  if (path === '/bootstrap') return { page: 'bootstrap' };
  if (path === '/firmware') return { page: 'firmware' };
  const c = /^\/firmware\/campaigns\/([^/]+)$/.exec(path);
  if (c) {
    try {
      return { page: 'campaign', id: decodeURIComponent(c[1]!) };
    } catch {
      return { page: 'not-found', path };
    }
  }
  const m = /^\/clients\/([^/]+)$/.exec(path);
  if (m) {
    try {
      return { page: 'client', endpoint: decodeURIComponent(m[1]!) };
    } catch {
      return { page: 'not-found', path };
    }
  }
  return { page: 'not-found', path };
}

export function routeHref(route: Route): string {
  switch (route.page) {
    case 'clients':
      return '/';
    case 'client':
      return `/clients/${encodeURIComponent(route.endpoint)}`;
    case 'server':
      return '/server';
    case 'security':
      return '/security';
    case 'bootstrap':
      return '/bootstrap';
    case 'firmware':
      return '/firmware';
    case 'campaign':
      return `/firmware/campaigns/${encodeURIComponent(route.id)}`;
    case 'not-found':
      return route.path;
  }
}
