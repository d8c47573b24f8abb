/** The text to show for a caught value: an Error's message, else the value as a string. */
export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
