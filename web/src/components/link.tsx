// An in-app link: a real href (open in a new tab works) that navigates without a reload.
import type { ComponentChildren } from 'preact';
import { useServices } from '../context.js';
import { routeHref } from '../lib/route.js';
import type { Route } from '../lib/route.js';

export function Link(props: {
  to: Route;
  children: ComponentChildren;
  class?: string;
  'aria-label'?: string;
  'aria-current'?: 'page' | undefined;
  'data-testid'?: string;
}) {
  const { navigate } = useServices();
  const { to, children, ...rest } = props;
  return (
    <a
      {...rest}
      href={routeHref(to)}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}
