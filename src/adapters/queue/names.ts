/**
 * The fleet's work queue names (src/app/fleet.ts), apart from the Storage client so that the function
 * registrations can name them without loading the Azure Storage SDK at cold start. The queue-triggered
 * function binds to the work queue by name, and the Functions host moves a message that keeps failing to
 * `<queue>-poison`
 * (https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger#poison-messages).
 */
export const WORK_QUEUE = "rotation-work";
export const POISON_QUEUE = `${WORK_QUEUE}-poison`;
